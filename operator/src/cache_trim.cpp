#include "ckms/operator/cache_trim.hpp"

namespace ckms::op {
namespace {

using nlohmann::json;

// Copies `from`'s value at each of `pointers` into `to`, where it exists.
void keep(const json& from, json& to, std::initializer_list<const char*> pointers) {
  for (const char* pointer : pointers) {
    const json::json_pointer p(pointer);
    if (from.contains(p)) to[p] = from[p];
  }
}

json trimmed_condition(const json& condition) {
  json out = json::object();
  keep(condition, out, {"/type", "/status", "/lastTransitionTime"});
  return out;
}

json trimmed_container_status(const json& status) {
  json out = json::object();
  keep(status, out,
       {"/name", "/ready", "/restartCount", "/state/waiting/reason", "/state/running/startedAt",
        "/state/terminated/message", "/state/terminated/finishedAt", "/state/terminated/exitCode",
        "/lastState/terminated/message", "/lastState/terminated/finishedAt", "/lastState/terminated/exitCode"});
  return out;
}

json identity(const json& object) {
  json out = json::object();
  keep(object, out,
       {"/apiVersion", "/kind", "/metadata/name", "/metadata/namespace", "/metadata/resourceVersion",
        "/metadata/labels"});
  return out;
}

}  // namespace

json trim_node(const json& node) {
  json out = identity(node);
  keep(node, out, {"/spec/taints", "/status/nodeInfo/kernelVersion"});
  return out;
}

json trim_pod(const json& pod) {
  json out = identity(pod);
  keep(pod, out, {"/metadata/creationTimestamp", "/metadata/deletionTimestamp", "/spec/nodeName", "/status/phase"});
  for (const auto& c : pod.value("/status/conditions"_json_pointer, json::array()))
    if (c.is_object() && c.value("type", "") == "Ready") out["status"]["conditions"].push_back(trimmed_condition(c));
  for (const auto& cs : pod.value("/status/containerStatuses"_json_pointer, json::array()))
    if (cs.is_object()) out["status"]["containerStatuses"].push_back(trimmed_container_status(cs));
  return out;
}

json without_managed_fields(const json& object) {
  json out = object;
  if (out.contains("metadata") && out["metadata"].is_object()) out["metadata"].erase("managedFields");
  return out;
}

}  // namespace ckms::op
