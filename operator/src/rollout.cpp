#include "ckms/operator/rollout.hpp"

#include <algorithm>

#include "ckms/operator/json_fields.hpp"
#include "ckms/operator/loader_pods.hpp"
#include "ckms/operator/resources.hpp"
#include "ckms/operator/workloads.hpp"

namespace ckms::op {
namespace {

using nlohmann::json;

bool being_deleted(const json& object) {
  return !object.value("/metadata/deletionTimestamp"_json_pointer, json()).is_null();
}

std::string label_of(const json& object, std::string_view key) {
  return object.value("/metadata/labels"_json_pointer, json::object()).value(std::string(key), "");
}

// What one node's loader pods of one kernel say.
struct NodePods {
  bool current_ready = false;
  std::string current_failure;
  bool older = false;  // an older build's pod, one being deleted included: it may still be loaded
  bool older_ready = false;
};

std::map<std::string, NodePods> pods_by_node(const Observed& observed, const std::string& release) {
  const std::string kernel = kernel_key(release);
  const std::string current = version_key(observed.module.spec.version);
  std::map<std::string, NodePods> out;
  for (const auto& pod : observed.pods) {
    if (label_of(pod, label::component) != "load" || label_of(pod, label::kernel) != kernel) continue;
    NodePods& node = out[string_at(pod, "/spec/nodeName")];
    if (label_of(pod, label::version) != current) {
      node.older = true;
      node.older_ready = node.older_ready || (!being_deleted(pod) && loader_ready(pod));
    } else if (!being_deleted(pod)) {
      node.current_ready = node.current_ready || loader_ready(pod);
      if (node.current_failure.empty()) node.current_failure = loader_failure(pod);
    }
  }
  return out;
}

std::set<std::string> held_nodes(const Observed& observed) {
  const std::string key = hold_label(observed.module.name);
  std::set<std::string> out;
  for (const auto& node : observed.nodes)
    if (node.value("/metadata/labels"_json_pointer, json::object()).contains(key))
      out.insert(string_at(node, "/metadata/name"));
  return out;
}

// One pass over every selected node of every kernel, then the batch: the budget of nodes
// between builds is the module's, over all its kernels.
class Rollout {
 public:
  Rollout(const Observed& observed, const std::set<std::string>& published)
      : observed_(observed), published_(published), held_(held_nodes(observed)) {}

  RolloutPlan plan(const std::map<std::string, std::vector<std::string>>& kernels) {
    int total = 0;
    for (const auto& [release, nodes] : kernels) total += static_cast<int>(nodes.size());
    // As the DaemonSet controller does, an impossible 0 is taken as 1.
    plan_.max_unavailable = std::max(1, scaled_value(observed_.module.spec.max_unavailable, total));
    for (const auto& [release, nodes] : kernels) classify(release, nodes);
    take_batch();
    finish();
    return std::move(plan_);
  }

 private:
  struct Move {
    std::string loader, node;
  };

  void classify(const std::string& release, const std::vector<std::string>& nodes) {
    std::map<std::string, const json*> older_pin;  // node -> the older loader pinning it
    for (const json* ds : older_loaders(observed_, release)) {
      plan_.active = true;
      for (const auto& node : pinned_nodes(*ds)) older_pin.emplace(node, ds);
    }
    std::set<std::string> current_pins;
    if (const json* ds = current_loader(observed_, release)) {
      const auto pinned = pinned_nodes(*ds);
      current_pins.insert(pinned.begin(), pinned.end());
    }
    const auto pods = pods_by_node(observed_, release);
    for (const auto& node : nodes) {
      const auto found = pods.find(node);
      const NodePods p = found == pods.end() ? NodePods{} : found->second;
      plan_.active = plan_.active || p.older;
      const auto older = older_pin.find(node);
      if (!published_.contains(release)) {
        // The new build does not exist yet for this kernel: its nodes keep what they run.
        if (older != older_pin.end()) keep_older(node, *older->second);
      } else if (current_pins.contains(node)) {
        pin_current(release, node, p);
      } else if (older != older_pin.end()) {
        older_node(node, *older->second, p);
      } else if (p.older) {
        plan_.upgrading.insert(node);  // unpinned, and its older build is still being unloaded
        ++unavailable_;
      } else {
        pin_current(release, node, p);
      }
    }
  }

  void pin_current(const std::string& release, const std::string& node, const NodePods& p) {
    plan_.current[release].push_back(node);
    if (p.current_ready) return;
    ++unavailable_;
    loading_.insert(node);
    if (!p.current_failure.empty() && plan_.stopped_at.empty()) {
      plan_.stopped_at = node;
      plan_.stopped_why = p.current_failure;
    }
  }

  void older_node(const std::string& node, const json& ds, const NodePods& p) {
    if (held_.contains(node)) {
      plan_.held.insert(node);
      keep_older(node, ds);
    } else if (!p.older_ready) {
      replacements_.push_back({name_of(ds), node});  // not loaded anyway: nothing to lose
    } else {
      candidates_.push_back({name_of(ds), node});
    }
    plan_.older_version[node] = module_version_of(ds);
  }

  void keep_older(const std::string& node, const json& ds) {
    plan_.older[name_of(ds)].push_back(node);
    plan_.older_version[node] = module_version_of(ds);
  }

  // rollingUpdate's maxSurge-0 branch: unavailable older pods are replaced at once, then
  // available ones while fewer than maxUnavailable nodes are without a ready loader. A
  // failing new loader stops it all.
  void take_batch() {
    const bool stopped = !plan_.stopped_at.empty() && plan_.active;
    int remaining = plan_.max_unavailable - unavailable_ - static_cast<int>(replacements_.size());
    for (const auto& move : replacements_) stopped ? keep(move) : upgrade(move);
    for (const auto& move : candidates_) {
      if (stopped || remaining <= 0) {
        keep(move);
      } else {
        upgrade(move);
        --remaining;
      }
    }
  }

  void keep(const Move& move) { plan_.older[move.loader].push_back(move.node); }
  void upgrade(const Move& move) {
    plan_.upgrading.insert(move.node);
    plan_.older_version.erase(move.node);
  }

  void finish() {
    if (!plan_.active) {
      plan_.stopped_at.clear();
      plan_.stopped_why.clear();
    } else {
      plan_.upgrading.insert(loading_.begin(), loading_.end());
    }
    for (auto& [loader, nodes] : plan_.older) std::sort(nodes.begin(), nodes.end());
  }

  static std::string name_of(const json& object) { return string_at(object, "/metadata/name"); }

  const Observed& observed_;
  const std::set<std::string>& published_;
  const std::set<std::string> held_;
  RolloutPlan plan_;
  std::vector<Move> replacements_, candidates_;
  std::set<std::string> loading_;  // pinned to the new loader, not ready yet
  int unavailable_ = 0;
};

}  // namespace

const json* current_loader(const Observed& observed, const std::string& release) {
  const std::string name = loader_name(observed.module, release);
  for (const auto& ds : observed.daemon_sets)
    if (string_at(ds, "/metadata/name") == name && !being_deleted(ds)) return &ds;
  return nullptr;
}

std::vector<const json*> older_loaders(const Observed& observed, const std::string& release) {
  const std::string name = loader_name(observed.module, release);
  std::vector<const json*> out;
  for (const auto& ds : observed.daemon_sets)
    if (kernel_release_of(ds) == release && string_at(ds, "/metadata/name") != name && !being_deleted(ds))
      out.push_back(&ds);
  return out;
}

RolloutPlan plan_rollout(const Observed& observed, const std::map<std::string, std::vector<std::string>>& kernels,
                         const std::set<std::string>& published) {
  return Rollout(observed, published).plan(kernels);
}

}  // namespace ckms::op
