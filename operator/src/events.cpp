#include "ckms/operator/events.hpp"

#include <fmt/format.h>

#include "ckms/base/digest.hpp"
#include "ckms/operator/resources.hpp"

namespace ckms::op {

nlohmann::json make_event(const KernelModule& module, std::string_view type, std::string_view reason,
                          std::string_view message, std::string_view now) {
  const std::string id = ckms::digest_of(fmt::format("{}\n{}\n{}\n{}", module.uid, type, reason, message)).hex();
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata",
           {{"name", fmt::format("{}.{}", module.name.substr(0, 200), id.substr(0, 16))},
            {"namespace", module.namespace_name}}},
          {"involvedObject",
           {{"apiVersion", resource::kernel_modules.api_version()},
            {"kind", std::string(resource::kernel_modules.kind)},
            {"name", module.name},
            {"namespace", module.namespace_name},
            {"uid", module.uid},
            {"resourceVersion", module.resource_version}}},
          {"type", std::string(type)},
          {"reason", std::string(reason)},
          {"message", std::string(message.substr(0, 1024))},
          {"source", {{"component", std::string(kComponent)}}},
          {"reportingComponent", std::string(kComponent)},
          {"firstTimestamp", std::string(now)},
          {"lastTimestamp", std::string(now)},
          {"count", 1}};
}

bool EventRecorder::record(const KernelModule& module, std::string_view type, std::string_view reason,
                           std::string_view message, std::string_view now) {
  nlohmann::json event = make_event(module, type, reason, message, now);
  const std::string name = event["metadata"]["name"];
  if (recorded_.contains(name)) return false;
  try {
    // Said before a restart: the name is what was said, so looking first writes nothing
    // (a POST would only meet 409 AlreadyExists).
    const ApiReply existing = client_.send("GET", resource::events.object(module.namespace_name, name));
    if (existing.status == 200) {
      recorded_.insert(name);
      return false;
    }
    client_.create(resource::events.collection(module.namespace_name), event);
  } catch (const ApiError& e) {
    if (e.status() != 409) return false;  // 409: said already, before a restart
    recorded_.insert(name);
    return false;
  } catch (const Error&) {
    return false;
  }
  recorded_.insert(name);
  return true;
}

}  // namespace ckms::op
