#include "ckms/operator/workloads.hpp"

#include <fmt/format.h>

#include "ckms/base/digest.hpp"
#include "ckms/images/resolve.hpp"
#include "ckms/operator/commands.hpp"
#include "ckms/operator/resources.hpp"

namespace ckms::op {
namespace {

using nlohmann::json;

std::string short_hash(std::string_view text, std::size_t digits) {
  return ckms::digest_of(text).hex().substr(0, digits);
}

// Object names here end up in a Job's pod label (job-name), so they stay within 63.
std::string derived_name(const KernelModule& module, std::string_view role, std::string_view release,
                         std::string_view suffix = {}) {
  std::string prefix = module.name.substr(0, 63 - role.size() - 12 - suffix.size());
  while (!prefix.empty() && (prefix.back() == '-' || prefix.back() == '.')) prefix.pop_back();
  return fmt::format("{}-{}-{}{}", prefix, role, kernel_key(release), suffix);
}

json labels(const KernelModule& module, std::string_view component, std::string_view release) {
  json out = {{std::string(label::managed_by), std::string(label::managed_by_value)},
              {std::string(label::component), std::string(component)},
              {std::string(label::kernel_module), module.name},
              {std::string(label::kernel), kernel_key(release)}};
  // A loader's pods say which build they load: during a rollout two loaders share a kernel.
  if (component == "load") out[std::string(label::version)] = version_key(module.spec.version);
  return out;
}

json metadata(const KernelModule& module, const std::string& name, std::string_view component,
              std::string_view release) {
  return {{"name", name},
          {"namespace", module.namespace_name},
          {"labels", labels(module, component, release)},
          // The version is what the build must publish and the loader loads; it is part of
          // the spec hash even where no command line names it.
          {"annotations",
           {{std::string(label::kernel_release), std::string(release)},
            {std::string(label::module_version), module.spec.version}}},
          {"ownerReferences", json::array({{{"apiVersion", resource::kernel_modules.api_version()},
                                            {"kind", std::string(resource::kernel_modules.kind)},
                                            {"name", module.name},
                                            {"uid", module.uid},
                                            {"controller", true},
                                            {"blockOwnerDeletion", true}}})}};
}

json pull_secrets(const KernelModuleSpec& spec) {
  json out = json::array();
  for (const auto& name : spec.image_pull_secrets) out.push_back({{"name", name}});
  return out;
}

json mount(std::string_view name, std::string_view path, bool read_only) {
  return {{"name", std::string(name)}, {"mountPath", std::string(path)}, {"readOnly", read_only}};
}

// Mounts and volumes for what both workloads may need: registry credentials.
void add_auth(const KernelModuleSpec& spec, json& mounts, json& volumes) {
  if (!spec.registry.auth_secret) return;
  mounts.push_back(mount("registry-auth", pod_path::auth, true));
  volumes.push_back({{"name", "registry-auth"}, {"secret", {{"secretName", *spec.registry.auth_secret}}}});
}

json empty_dir(std::string_view name) { return {{"name", std::string(name)}, {"emptyDir", json::object()}}; }

const json::json_pointer kNodeTerms(
    "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms");

// Sets the spec-hash annotation over the object as it would be with no nodes pinned.
void stamp_hash(json& object) {
  json copy = object;
  if (copy["kind"] == "DaemonSet") copy[kNodeTerms] = json::array();
  object["metadata"]["annotations"][std::string(label::spec_hash)] = short_hash(copy.dump(), 16);
}

}  // namespace

std::string kernel_key(std::string_view release) { return short_hash(release, 10); }

std::string build_job_name(const KernelModule& module, std::string_view release) {
  return derived_name(module, "build", release);
}

std::string version_key(std::string_view version) { return short_hash(version, 10); }

std::string loader_name(const KernelModule& module, std::string_view release) {
  return derived_name(module, "load", release, "-" + version_key(module.spec.version).substr(0, 6));
}

json build_job(const KernelModule& module, std::string_view release, const OperatorSettings& settings) {
  const KernelModuleSpec& spec = module.spec;
  json mounts = json::array({mount("ckms", pod_path::ckms_home, true), mount("tmp", "/tmp", false)});
  json volumes = json::array({empty_dir("ckms"), empty_dir("tmp")});
  json init = json::array({{{"name", "ckms"},
                            {"image", settings.ckms_image},
                            {"imagePullPolicy", settings.image_pull_policy},
                            {"command", {"cp", "-a", std::string(pod_path::ckms_home) + "/.", "/ckms/"}},
                            {"volumeMounts", json::array({mount("ckms", "/ckms", false)})}}});
  if (spec.source.image) {
    // The source image only needs a `cp`; its tree is copied next to the build.
    init.push_back({{"name", "source"},
                    {"image", *spec.source.image},
                    {"imagePullPolicy", settings.image_pull_policy},
                    {"command", {"cp", "-a", spec.source.path + "/.", std::string(pod_path::source) + "/"}},
                    {"volumeMounts", json::array({mount("source", pod_path::source, false)})}});
    mounts.push_back(mount("source", pod_path::source, false));
    volumes.push_back(empty_dir("source"));
  }
  if (spec.signing_secret) {
    mounts.push_back(mount("signing", pod_path::signing, true));
    volumes.push_back({{"name", "signing"}, {"secret", {{"secretName", *spec.signing_secret}, {"defaultMode", 0400}}}});
  }
  add_auth(spec, mounts, volumes);

  json pod_spec = {{"restartPolicy", "Never"},
                   {"nodeSelector", {{"kubernetes.io/os", "linux"}}},
                   {"imagePullSecrets", pull_secrets(spec)},
                   {"initContainers", init},
                   {"containers", json::array({{{"name", "build"},
                                                {"image", images::image_reference(spec.build_image_template, release)},
                                                {"imagePullPolicy", settings.image_pull_policy},
                                                {"command", build_command(spec, release)},
                                                {"env", json::array({{{"name", "HOME"}, {"value", "/tmp"}}})},
                                                {"volumeMounts", mounts}}})},
                   {"volumes", volumes}};
  json job = {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", metadata(module, build_job_name(module, release), "build", release)},
              {"spec",
               {{"backoffLimit", settings.build_backoff_limit},
                {"activeDeadlineSeconds", settings.build_deadline_seconds},
                {"template", {{"metadata", {{"labels", labels(module, "build", release)}}}, {"spec", pod_spec}}}}}};
  stamp_hash(job);
  return job;
}

json loader_daemon_set(const KernelModule& module, std::string_view release, const std::vector<std::string>& nodes,
                       const OperatorSettings& settings) {
  const KernelModuleSpec& spec = module.spec;
  // /run is the pod's own (the readiness marker); /run/ckms inside it is the host's.
  json mounts =
      json::array({mount("modules", "/lib/modules", true), mount("cache", pod_path::cache, false),
                   mount("run", "/run", false), mount("state", pod_path::state, false), mount("tmp", "/tmp", false)});
  const auto host_dir = [](std::string_view name, std::string_view path, std::string_view type) {
    return json{{"name", std::string(name)}, {"hostPath", {{"path", std::string(path)}, {"type", std::string(type)}}}};
  };
  json volumes = json::array(
      {host_dir("modules", "/lib/modules", "Directory"), host_dir("cache", pod_path::cache, "DirectoryOrCreate"),
       host_dir("state", pod_path::state, "DirectoryOrCreate"), empty_dir("run"), empty_dir("tmp")});
  if (spec.trusted_certificate) {
    mounts.push_back(mount("trust", pod_path::trust, true));
    volumes.push_back({{"name", "trust"}, {"configMap", {{"name", spec.trusted_certificate->config_map}}}});
  }
  add_auth(spec, mounts, volumes);
  std::string remove;
  for (const auto& m : spec.remove_in_tree) remove += (remove.empty() ? "" : " ") + m;

  json node_selector = json::object();
  for (const auto& [k, v] : spec.node_selector) node_selector[k] = v;
  json container = {
      {"name", "load"},
      {"image", settings.ckms_image},
      {"imagePullPolicy", settings.image_pull_policy},
      {"command", loader_entrypoint(load_command(spec))},
      {"env", json::array({{{"name", "CKMS_REMOVE_IN_TREE"}, {"value", remove}}})},
      {"securityContext",
       {{"runAsUser", 0},
        {"readOnlyRootFilesystem", true},
        {"allowPrivilegeEscalation", false},
        {"capabilities", {{"drop", {"ALL"}}, {"add", {"SYS_MODULE"}}}}}},
      // A loader that fails exits; the end of its log (ckms's error) becomes the termination
      // message the kubelet publishes, which the status reports per node.
      {"terminationMessagePolicy", "FallbackToLogsOnError"},
      {"readinessProbe", {{"exec", {{"command", {"cat", std::string(pod_path::ready_marker)}}}}, {"periodSeconds", 5}}},
      {"lifecycle", {{"preStop", {{"exec", {{"command", unload_command(spec)}}}}}}},
      {"volumeMounts", mounts}};
  json pod_spec = {{"nodeSelector", node_selector},          {"tolerations", spec.tolerations},
                   {"imagePullSecrets", pull_secrets(spec)}, {"terminationGracePeriodSeconds", 60},
                   {"containers", json::array({container})}, {"volumes", volumes}};
  json selector = {{std::string(label::managed_by), std::string(label::managed_by_value)},
                   {std::string(label::kernel_module), module.name},
                   {std::string(label::kernel), kernel_key(release)},
                   {std::string(label::version), version_key(spec.version)}};
  json ds = {{"apiVersion", "apps/v1"},
             {"kind", "DaemonSet"},
             {"metadata", metadata(module, loader_name(module, release), "load", release)},
             {"spec",
              {{"selector", {{"matchLabels", selector}}},
               // Pods are replaced only when deleted: a node joining or leaving this kernel
               // changes the pinned list but must not reload the module everywhere else.
               {"updateStrategy", {{"type", "OnDelete"}}},
               {"template", {{"metadata", {{"labels", labels(module, "load", release)}}}, {"spec", pod_spec}}}}}};
  pin_nodes(ds, nodes);
  stamp_hash(ds);
  return ds;
}

void pin_nodes(json& ds, const std::vector<std::string>& nodes) {
  // kube-apiserver takes exactly one value per node *field* requirement
  // (ValidateNodeFieldSelectorRequirement), so each node is a term of its own; terms are ORed.
  json terms = json::array();
  for (const auto& node : nodes)
    terms.push_back(
        {{"matchFields", json::array({{{"key", "metadata.name"}, {"operator", "In"}, {"values", {node}}}})}});
  ds[kNodeTerms] = terms;
}

std::vector<std::string> pinned_nodes(const json& ds) {
  if (!ds.contains(kNodeTerms) || !ds[kNodeTerms].is_array()) return {};
  std::vector<std::string> out;
  for (const auto& term : ds[kNodeTerms]) {
    const json::json_pointer value("/matchFields/0/values/0");
    if (term.contains(value) && term[value].is_string()) out.push_back(term[value]);
  }
  return out;
}

namespace {
std::string annotation(const json& object, std::string_view key) {
  const json::json_pointer pointer("/metadata/annotations");
  if (!object.contains(pointer) || !object[pointer].is_object()) return {};
  const auto& a = object[pointer];
  const auto it = a.find(std::string(key));
  return it != a.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

std::string spec_hash(const json& object) { return annotation(object, label::spec_hash); }
std::string kernel_release_of(const json& object) { return annotation(object, label::kernel_release); }
std::string module_version_of(const json& object) { return annotation(object, label::module_version); }

}  // namespace ckms::op
