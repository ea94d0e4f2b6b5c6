#include "ckms/operator/loader_pods.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/operator/json_fields.hpp"
#include "ckms/operator/resources.hpp"
#include "ckms/operator/rollout.hpp"
#include "ckms/operator/workloads.hpp"

namespace ckms::op {
namespace {

using nlohmann::json;

const json* ready_condition(const json& pod) {
  const json::json_pointer p("/status/conditions");
  if (!pod.contains(p) || !pod[p].is_array()) return nullptr;
  for (const auto& c : pod[p])
    if (c.is_object() && c.value("type", "") == "Ready") return &c;
  return nullptr;
}

// The kubelet's fallback message is the end of the log, up to 80 lines: ckms's error is the
// last of them.
std::string last_line(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  const auto newline = text.rfind('\n');
  return std::string(newline == std::string_view::npos ? text : text.substr(newline + 1));
}

// When the loader last stopped (the failure `loader_failure` reports).
std::string failed_at(const json& pod) {
  for (const auto& cs : pod.value("/status/containerStatuses"_json_pointer, json::array())) {
    for (const char* pointer : {"/lastState/terminated/finishedAt", "/state/terminated/finishedAt"})
      if (std::string at = string_at(cs, pointer); !at.empty()) return at;
  }
  return {};
}

bool is_loader(const json& pod, const std::string& version) {
  const json labels = pod.value("/metadata/labels"_json_pointer, json::object());
  return labels.value(std::string(label::component), "") == "load" &&
         labels.value(std::string(label::version), "") == version &&
         pod.value("/metadata/deletionTimestamp"_json_pointer, json()).is_null();
}

// The loader pod of each node of a kernel ("<kernel key>/<node>") of builds with version
// key `version`, or of any other build when `older`; of two (a replaced pod not yet gone),
// the newer.
std::map<std::string, const json*> loaders_by_node(const std::vector<json>& pods, const std::string& version,
                                                   bool older) {
  std::map<std::string, const json*> out;
  for (const auto& pod : pods) {
    const json labels = pod.value("/metadata/labels"_json_pointer, json::object());
    const std::string build = labels.value(std::string(label::version), "");
    if (!is_loader(pod, older ? build : version) || (older && build == version)) continue;
    const std::string key = fmt::format(
        "{}/{}", pod.value("/metadata/labels"_json_pointer, json::object()).value(std::string(label::kernel), ""),
        string_at(pod, "/spec/nodeName"));
    const json*& slot = out[key];
    if (!slot || string_at(*slot, "/metadata/creationTimestamp") < string_at(pod, "/metadata/creationTimestamp"))
      slot = &pod;
  }
  return out;
}

// State, message and the pod's own `since` for a node whose kernel has an artifact.
NodeStatus from_loader(const KernelModule& module, const std::string& release, const json* pod) {
  NodeStatus s;
  if (!pod) {
    s.message = "waiting for the loader pod";
  } else if (loader_ready(*pod)) {
    s.state = NodeState::loaded;
    s.message = fmt::format("{}:{} loaded", module.spec.repository, artifact::kernel_tag(module.spec.version, release));
    s.since = ready_condition(*pod)->value("lastTransitionTime", "");
  } else if (std::string why = loader_failure(*pod); !why.empty()) {
    s.state = NodeState::failed;
    s.message = std::move(why);
    s.since = failed_at(*pod);
  } else {
    std::string waiting;
    for (const auto& cs : pod->value("/status/containerStatuses"_json_pointer, json::array()))
      if (waiting.empty()) waiting = string_at(cs, "/state/waiting/reason");
    s.message = waiting.empty() ? "loading" : waiting;
    s.since = string_at(*pod, "/metadata/creationTimestamp");
  }
  return s;
}

NodeStatus from_kernel(const KernelModule& module, const KernelStatus& kernel) {
  NodeStatus s;
  switch (kernel.phase) {
    case KernelPhase::building: s.message = fmt::format("building for kernel {}", kernel.release); break;
    case KernelPhase::build_failed:
      s.state = NodeState::failed;
      s.message = fmt::format("the build for kernel {} failed (Job {})", kernel.release,
                              build_job_name(module, kernel.release));
      break;
    default: s.message = fmt::format("no answer from the registry about kernel {}", kernel.release); break;
  }
  return s;
}

int rank(NodeState state) { return state == NodeState::failed ? 0 : state == NodeState::loaded ? 2 : 1; }

// A node the rollout has not moved yet: what its older build's loader says.
NodeStatus from_older_loader(const KernelModule& module, const std::string& version, bool held, const json* pod) {
  NodeStatus s;
  const std::string build = version.empty() ? "an older build" : "version " + version;
  const std::string next =
      held ? fmt::format("held back from version {} by the node label {}", module.spec.version, hold_label(module.name))
           : fmt::format("waiting to upgrade to version {}", module.spec.version);
  if (pod && loader_ready(*pod)) {
    s.state = NodeState::loaded;
    s.message = fmt::format("{} loaded; {}", build, next);
    s.since = ready_condition(*pod)->value("lastTransitionTime", "");
  } else {
    s.message = fmt::format("{} not loaded; {}", build, next);
  }
  return s;
}

}  // namespace

bool loader_ready(const json& pod) { return has_true_condition(pod, "Ready"); }

std::string loader_failure(const json& pod) {
  if (string_at(pod, "/status/phase") == "Failed") return "pod failed";
  for (const auto& cs : pod.value("/status/containerStatuses"_json_pointer, json::array())) {
    const std::string waiting = string_at(cs, "/state/waiting/reason");
    const bool stuck = waiting == "CrashLoopBackOff" || waiting == "ErrImagePull" || waiting == "ImagePullBackOff" ||
                       waiting == "CreateContainerConfigError" || waiting == "InvalidImageName";
    if (!stuck && (cs.value("restartCount", 0) == 0 || cs.value("ready", false))) continue;
    // What ckms said last is the diagnosis; no restart count in the text, since events
    // are deduplicated by their message.
    const std::string last = last_line(string_at(cs, "/lastState/terminated/message"));
    if (!last.empty()) return last;
    return waiting.empty() ? "the loader keeps exiting" : waiting;
  }
  return {};
}

namespace {

// Where one node stands: on an older build, between builds, or as its kernel and loader say.
class NodeReader {
 public:
  NodeReader(const Observed& observed, const RolloutPlan& rollout)
      : module_(observed.module),
        rollout_(rollout),
        current_(loaders_by_node(observed.pods, version_key(module_.spec.version), false)),
        older_(loaders_by_node(observed.pods, version_key(module_.spec.version), true)) {}

  NodeStatus read(const KernelStatus& kernel, const std::string& node) const {
    const std::string key = fmt::format("{}/{}", kernel_key(kernel.release), node);
    if (const auto older = rollout_.older_version.find(node); older != rollout_.older_version.end())
      return from_older_loader(module_, older->second, rollout_.held.contains(node), find(older_, key));
    const json* pod = find(current_, key);
    if (rollout_.upgrading.contains(node) && !(pod && !loader_failure(*pod).empty())) {
      NodeStatus s;
      s.state = NodeState::upgrading;
      s.message = pinned(kernel.release, node)
                      ? fmt::format("loading version {}", module_.spec.version)
                      : fmt::format("unloading the older build before loading version {}", module_.spec.version);
      return s;
    }
    const bool published = kernel.phase == KernelPhase::loading || kernel.phase == KernelPhase::loaded;
    return published ? from_loader(module_, kernel.release, pod) : from_kernel(module_, kernel);
  }

 private:
  // Pinned to spec.version's loader: the older build is gone from the node.
  bool pinned(const std::string& release, const std::string& node) const {
    const auto nodes = rollout_.current.find(release);
    return nodes != rollout_.current.end() &&
           std::find(nodes->second.begin(), nodes->second.end(), node) != nodes->second.end();
  }
  static const json* find(const std::map<std::string, const json*>& pods, const std::string& key) {
    const auto it = pods.find(key);
    return it == pods.end() ? nullptr : it->second;
  }

  const KernelModule& module_;
  const RolloutPlan& rollout_;
  const std::map<std::string, const json*> current_, older_;
};

}  // namespace

std::vector<NodeStatus> node_statuses(const Observed& observed,
                                      const std::map<std::string, std::vector<std::string>>& kernels,
                                      const std::vector<KernelStatus>& kernel_statuses, const RolloutPlan& rollout) {
  const KernelModule& module = observed.module;
  const NodeReader reader(observed, rollout);
  std::map<std::string, const NodeStatus*> before;
  for (const auto& s : module.status.node_statuses) before[s.node] = &s;
  std::vector<NodeStatus> out;
  for (const auto& kernel : kernel_statuses) {
    for (const auto& node : kernels.at(kernel.release)) {
      NodeStatus s = reader.read(kernel, node);
      s.node = node;
      s.kernel = kernel.release;
      if (s.since.empty()) {
        const auto old = before.find(node);
        const bool held = old != before.end() && old->second->state == s.state && old->second->kernel == s.kernel;
        s.since = held ? old->second->since : observed.now;
      }
      out.push_back(std::move(s));
    }
  }
  std::sort(out.begin(), out.end(), [](const NodeStatus& a, const NodeStatus& b) {
    return std::pair(rank(a.state), a.node) < std::pair(rank(b.state), b.node);
  });
  if (out.size() > kMaxNodeStatuses) out.resize(kMaxNodeStatuses);
  return out;
}

}  // namespace ckms::op
