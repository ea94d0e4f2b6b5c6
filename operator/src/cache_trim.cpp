#include "ckms/operator/cache_trim.hpp"

#include "ckms/operator/resources.hpp"

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
       {"/ready", "/restartCount", "/state/waiting/reason", "/state/terminated/finishedAt",
        "/lastState/terminated/message", "/lastState/terminated/finishedAt"});
  return out;
}

json identity(const json& object) {
  json out = json::object();
  keep(object, out, {"/apiVersion", "/kind", "/metadata/name", "/metadata/namespace", "/metadata/resourceVersion"});
  return out;
}

// Of a pod's labels, the operator reads its own: the controllers add theirs
// (controller-revision-hash, job-name, controller-uid, ...) to every pod.
json own_labels(const json& pod) {
  json out = json::object();
  const json labels = pod.value("/metadata/labels"_json_pointer, json::object());
  for (const auto key : {label::component, label::kernel_module, label::kernel, label::version})
    if (const auto it = labels.find(std::string(key)); it != labels.end()) out[std::string(key)] = *it;
  return out;
}

}  // namespace

json trim_node(const json& node) {
  json out = identity(node);
  keep(node, out, {"/metadata/labels", "/spec/taints", "/status/nodeInfo/kernelVersion"});
  return out;
}

json trim_pod(const json& pod) {
  json out = identity(pod);
  out["metadata"]["labels"] = own_labels(pod);
  keep(pod, out, {"/metadata/creationTimestamp", "/metadata/deletionTimestamp", "/spec/nodeName", "/status/phase"});
  for (const auto& c : pod.value("/status/conditions"_json_pointer, json::array()))
    if (c.is_object() && c.value("type", "") == "Ready") out["status"]["conditions"].push_back(trimmed_condition(c));
  for (const auto& cs : pod.value("/status/containerStatuses"_json_pointer, json::array()))
    if (cs.is_object()) out["status"]["containerStatuses"].push_back(trimmed_container_status(cs));
  return out;
}

json trim_job(const json& job) {
  json out = without_managed_fields(job);
  out.erase("spec");
  if (!out.contains("status")) return out;
  json conditions = json::array();
  for (const auto& c : job["status"].value("conditions", json::array())) {
    json kept = json::object();
    keep(c, kept, {"/type", "/status", "/reason", "/message"});
    conditions.push_back(std::move(kept));
  }
  out["status"] = {{"conditions", std::move(conditions)}};
  return out;
}

json trim_daemon_set(const json& daemon_set) {
  json out = without_managed_fields(daemon_set);
  const json::json_pointer terms(
      "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms");
  out.erase("spec");
  out.erase("status");
  if (daemon_set.contains(terms)) out[terms] = daemon_set[terms];
  return out;
}

json without_managed_fields(const json& object) {
  json out = object;
  if (out.contains("metadata") && out["metadata"].is_object()) out["metadata"].erase("managedFields");
  return out;
}

}  // namespace ckms::op
