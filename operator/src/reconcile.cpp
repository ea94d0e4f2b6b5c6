#include "ckms/operator/reconcile.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "ckms/operator/json_fields.hpp"
#include "ckms/operator/loader_pods.hpp"
#include "ckms/operator/preflight.hpp"
#include "ckms/operator/resources.hpp"
#include "ckms/operator/rollout.hpp"

namespace ckms::op {
namespace {

using nlohmann::json;

bool matches_selector(const KernelModuleSpec& spec, const json& node) {
  const json labels = node.value("/metadata/labels"_json_pointer, json::object());
  for (const auto& [key, value] : spec.node_selector) {
    const auto it = labels.find(key);
    if (it == labels.end() || !it->is_string() || it->get<std::string>() != value) return false;
  }
  return true;
}

const json* find_by_release(const std::vector<json>& objects, const std::string& release) {
  for (const auto& o : objects)
    if (kernel_release_of(o) == release) return &o;
  return nullptr;
}

Condition make_condition(const KernelModule& module, ConditionType type, bool value, ConditionReason reason,
                         std::string message, const std::string& now) {
  Condition c{type, value ? "True" : "False", reason, std::move(message), now, module.generation};
  // A condition keeps its transition time until its status changes: an unchanged world
  // gives a byte-identical status, so a restarted operator writes nothing.
  if (const Condition* old = module.status.condition(c.type); old && old->status == c.status)
    c.last_transition_time = old->last_transition_time;
  return c;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

}  // namespace

bool tolerates(const json& tolerations, const json& taint) {
  const std::string key = taint.value("key", "");
  const std::string value = taint.value("value", "");
  const std::string effect = taint.value("effect", "");
  for (const auto& t : tolerations) {
    const std::string t_effect = t.value("effect", "");
    if (!t_effect.empty() && t_effect != effect) continue;
    const std::string op = t.value("operator", "Equal");
    const std::string t_key = t.value("key", "");
    if (op == "Exists") {
      if (t_key.empty() || t_key == key) return true;
    } else if (t_key == key && t.value("value", "") == value) {
      return true;
    }
  }
  return false;
}

void mark_degraded(KernelModuleStatus& status, const KernelModule& module, ConditionReason reason,
                   const std::string& message, const std::string& now) {
  for (auto& c : status.conditions) {
    if (c.type != ConditionType::degraded) continue;
    // A problem found by reconcile keeps its reason; this one is added to what it says.
    if (c.status == "True" && c.reason != reason) {
      c.message += "; " + message;
      return;
    }
    c.status = "True";
    c.reason = reason;
    c.message = message;
    const Condition* old = module.status.condition(ConditionType::degraded);
    c.last_transition_time = old && old->status == "True" ? old->last_transition_time : now;
  }
}

std::map<std::string, std::vector<std::string>> nodes_by_kernel(const KernelModuleSpec& spec,
                                                                const std::vector<json>& nodes) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& node : nodes) {
    const std::string release = string_at(node, "/status/nodeInfo/kernelVersion");
    const std::string name = string_at(node, "/metadata/name");
    if (release.empty() || name.empty() || !matches_selector(spec, node)) continue;
    bool schedulable = true;
    for (const auto& taint : node.value("/spec/taints"_json_pointer, json::array())) {
      const std::string effect = taint.value("effect", "");
      if ((effect == "NoSchedule" || effect == "NoExecute") && !tolerates(spec.tolerations, taint)) {
        schedulable = false;
        break;
      }
    }
    if (schedulable) out[release].push_back(name);
  }
  for (auto& [release, names] : out) std::sort(names.begin(), names.end());
  return out;
}

namespace {

// The kernels whose modules are not loaded yet, by what holds them back: the conditions
// name them.
struct Unfinished {
  std::vector<std::string> building, build_failed, load_failed, unknown;
};

// The node of a loader pod of spec.version for `release` on one of `nodes`, or "" for any
// other pod (an older build's during a rollout) and for one being deleted.
std::string loader_node(const json& pod, const KernelModule& module, const std::string& release,
                        const std::set<std::string>& nodes) {
  // Build pods carry the same owner and kernel labels; only loaders say "loaded".
  const json labels = pod.value("/metadata/labels"_json_pointer, json::object());
  if (labels.value(std::string(label::kernel), "") != kernel_key(release) ||
      labels.value(std::string(label::component), "") != "load" ||
      labels.value(std::string(label::version), "") != version_key(module.spec.version))
    return {};
  std::string node = string_at(pod, "/spec/nodeName");
  if (!nodes.contains(node) || !pod.value("/metadata/deletionTimestamp"_json_pointer, json()).is_null()) return {};
  return node;
}

// Decides one kernel release at a time: the Job or DaemonSet it needs, its status, and the
// Events that say what went wrong.
class KernelPlanner {
 public:
  KernelPlanner(const Observed& observed, const OperatorSettings& settings, Desired& desired)
      : observed_(observed), settings_(settings), desired_(desired) {}
  void set_rollout(const RolloutPlan& rollout) { rollout_ = &rollout; }

  void plan(const std::string& release, const std::vector<std::string>& nodes, Availability availability) {
    KernelStatus ks{release, static_cast<int>(nodes.size())};
    const json* job = find_by_release(observed_.jobs, release);
    const json* ds = current_loader(observed_, release);
    if (availability == Availability::published) {
      plan_published(ks, nodes, job, ds);
    } else if (availability == Availability::missing) {
      plan_missing(ks, job);
    } else {
      plan_unanswered(ks, job);
    }
    desired_.status.nodes += ks.nodes;
    desired_.status.loaded += ks.loaded;
    desired_.status.kernels.push_back(std::move(ks));
  }
  const Unfinished& unfinished() const { return unfinished_; }

 private:
  void plan_published(KernelStatus& ks, const std::vector<std::string>& nodes, const json* job, const json* ds) {
    // The nodes the rollout gives this version's loader; none yet (all still unloading an
    // older build) means no loader yet, as a DaemonSet must pin at least one node.
    if (const auto pins = rollout_->current.find(ks.release); pins != rollout_->current.end())
      desired_.daemon_sets.push_back(loader_daemon_set(observed_.module, ks.release, pins->second, settings_));
    // The build's logs are the only diagnosis when its loader then fails: its Job stays
    // until the loader exists.
    if (job && !ds) desired_.jobs.push_back(*job);
    ks.built = ks.nodes;
    count_loaders(ks, nodes);
    ks.loaded = std::min(ks.loaded, ks.nodes);
    ks.phase = ks.loaded == ks.nodes ? KernelPhase::loaded : KernelPhase::loading;
  }

  void count_loaders(KernelStatus& ks, const std::vector<std::string>& nodes) {
    const std::set<std::string> on_kernel(nodes.begin(), nodes.end());
    for (const auto& pod : observed_.pods) {
      const std::string node = loader_node(pod, observed_.module, ks.release, on_kernel);
      if (node.empty()) continue;
      if (loader_ready(pod)) {
        ++ks.loaded;
      } else if (const std::string why = loader_failure(pod); !why.empty()) {
        ++ks.failed;
        unfinished_.load_failed.push_back(fmt::format("{} ({})", node, ks.release));
        desired_.events.push_back(
            {"Warning", "LoadFailed", fmt::format("loading on node {} (kernel {}) fails: {}", node, ks.release, why)});
      }
    }
  }

  void plan_missing(KernelStatus& ks, const json* job) {
    desired_.jobs.push_back(build_job(observed_.module, ks.release, settings_));
    const bool same_job = job && spec_hash(*job) == spec_hash(desired_.jobs.back());
    if (same_job && has_true_condition(*job, "Failed")) {
      build_failed(ks, {"Warning", "BuildFailed",
                        fmt::format("build for kernel {} failed (Job {}): {}", ks.release,
                                    string_at(*job, "/metadata/name"), condition_message(*job, "Failed"))});
    } else if (same_job && has_true_condition(*job, "Complete")) {
      // The Job says it published, the registry has no tag: a wrong --output or a tag
      // rule that differs between builder and operator. Rebuilding would not help.
      build_failed(ks, {"Warning", "ArtifactMissing",
                        fmt::format("build Job {} for kernel {} completed, but {} has no tag for it",
                                    string_at(*job, "/metadata/name"), ks.release, observed_.module.spec.repository)});
    } else {
      ks.phase = KernelPhase::building;
      unfinished_.building.push_back(ks.release);
    }
  }

  void build_failed(KernelStatus& ks, EventIntent event) {
    ks.failed = ks.nodes;
    ks.phase = KernelPhase::build_failed;
    unfinished_.build_failed.push_back(ks.release);
    desired_.events.push_back(std::move(event));
  }

  void plan_unanswered(KernelStatus& ks, const json* job) {
    if (job) desired_.jobs.push_back(*job);
    ks.phase = KernelPhase::unknown;
    const auto why = observed_.unanswered.find(ks.release);
    unfinished_.unknown.push_back(why == observed_.unanswered.end() ? ks.release
                                                                    : fmt::format("{} ({})", ks.release, why->second));
  }

  const Observed& observed_;
  const OperatorSettings& settings_;
  const RolloutPlan* rollout_ = nullptr;
  Desired& desired_;
  Unfinished unfinished_;
};

Condition building_condition(const Observed& observed, const Unfinished& unfinished) {
  const auto& building = unfinished.building;
  return make_condition(observed.module, ConditionType::building, !building.empty(),
                        building.empty() ? ConditionReason::no_builds : ConditionReason::builds_running,
                        building.empty() ? "" : "building for " + join(building), observed.now);
}

std::string stopped_message(const Observed& observed, const RolloutPlan& rollout) {
  return fmt::format("upgrade to version {} stopped: loading on node {} fails: {}", observed.module.spec.version,
                     rollout.stopped_at, rollout.stopped_why);
}

// Degraded names every problem; its reason is the first of them.
Condition degraded_condition(const Observed& observed, const Unfinished& unfinished, const RolloutPlan& rollout) {
  ConditionReason reason = ConditionReason::as_expected;
  std::vector<std::string> problems;
  if (!unfinished.build_failed.empty()) {
    reason = ConditionReason::build_failed;
    problems.push_back("build failed for " + join(unfinished.build_failed));
  }
  if (!rollout.stopped_at.empty()) {
    if (problems.empty()) reason = ConditionReason::upgrade_failed;
    problems.push_back(stopped_message(observed, rollout));
  }
  if (!unfinished.load_failed.empty()) {
    if (problems.empty()) reason = ConditionReason::load_failed;
    problems.push_back("loading fails on " + join(unfinished.load_failed));
  }
  if (!unfinished.unknown.empty()) {
    if (problems.empty()) reason = ConditionReason::registry_unreachable;
    problems.push_back("no answer from the registry for " + join(unfinished.unknown));
  }
  return make_condition(observed.module, ConditionType::degraded, !problems.empty(), reason,
                        problems.empty() ? "" : join(problems), observed.now);
}

Condition ready_condition(const Observed& observed, const KernelModuleStatus& status) {
  const bool ready = status.nodes > 0 && status.loaded == status.nodes;
  const ConditionReason reason = ready               ? ConditionReason::all_nodes_loaded
                                 : status.nodes == 0 ? ConditionReason::no_nodes_selected
                                                     : ConditionReason::not_all_nodes_loaded;
  return make_condition(observed.module, ConditionType::ready, ready, reason,
                        fmt::format("{} of {} nodes loaded", status.loaded, status.nodes), observed.now);
}

std::vector<std::string> first_names(const std::set<std::string>& nodes) {
  constexpr std::size_t kMaxListed = 100;  // nodeStatus lists them all; this is a summary
  std::vector<std::string> out(nodes.begin(), nodes.end());
  if (out.size() > kMaxListed) out.resize(kMaxListed);
  return out;
}

std::optional<UpgradeStatus> upgrade_status(const Observed& observed, const RolloutPlan& rollout,
                                            const KernelModuleStatus& status) {
  if (!rollout.active) return std::nullopt;
  return UpgradeStatus{observed.module.spec.version,   rollout.max_unavailable,   status.nodes,      status.loaded,
                       first_names(rollout.upgrading), first_names(rollout.held), rollout.stopped_at};
}

Condition upgrading_condition(const Observed& observed, const KernelModuleStatus& status) {
  if (!status.upgrade)
    return make_condition(observed.module, ConditionType::upgrading, false, ConditionReason::up_to_date, "",
                          observed.now);
  const UpgradeStatus& u = *status.upgrade;
  std::string message = fmt::format("{} of {} nodes loaded with version {}, at most {} at a time", u.updated, u.nodes,
                                    u.version, u.max_unavailable);
  if (!u.upgrading.empty()) message += "; upgrading " + join(u.upgrading);
  if (!u.held.empty()) message += "; held back by " + hold_label(observed.module.name) + ": " + join(u.held);
  if (!u.stopped_at.empty()) message += "; stopped at " + u.stopped_at;
  return make_condition(observed.module, ConditionType::upgrading, true, ConditionReason::rolling_out, message,
                        observed.now);
}

// Each kernel's answer from the registry. Without one, a kernel that already had this
// version's loader keeps it and one that was building keeps building: nothing is torn
// down on a guess.
std::map<std::string, Availability> availabilities(const Observed& observed,
                                                   const std::map<std::string, std::vector<std::string>>& kernels) {
  std::map<std::string, Availability> out;
  for (const auto& [release, nodes] : kernels) {
    const auto found = observed.artifacts.find(release);
    Availability a = found == observed.artifacts.end() ? Availability::unknown : found->second;
    if (a == Availability::unknown && current_loader(observed, release)) a = Availability::published;
    out[release] = a;
  }
  return out;
}

// The older loaders keep the nodes the rollout has not moved yet; one left with none goes.
void keep_older_loaders(const Observed& observed, const RolloutPlan& rollout, Desired& desired) {
  for (const auto& ds : observed.daemon_sets) {
    const auto kept = rollout.older.find(string_at(ds, "/metadata/name"));
    if (kept == rollout.older.end() || kept->second.empty()) continue;
    json copy = ds;
    pin_nodes(copy, kept->second);
    desired.daemon_sets.push_back(std::move(copy));
  }
}

RolloutPlan plan_kernels(const Observed& observed, const std::map<std::string, std::vector<std::string>>& kernels,
                         KernelPlanner& planner) {
  const auto availability = availabilities(observed, kernels);
  std::set<std::string> published;
  for (const auto& [release, a] : availability)
    if (a == Availability::published) published.insert(release);
  RolloutPlan rollout = plan_rollout(observed, kernels, published);
  planner.set_rollout(rollout);
  for (const auto& [release, nodes] : kernels) planner.plan(release, nodes, availability.at(release));
  return rollout;
}

}  // namespace

Desired reconcile(const Observed& observed, const OperatorSettings& settings) {
  Desired desired;
  if (observed.module.deleting) return desired;  // garbage collection takes it from here

  const auto kernels = nodes_by_kernel(observed.module.spec, observed.nodes);
  KernelPlanner planner(observed, settings, desired);
  const RolloutPlan rollout = plan_kernels(observed, kernels, planner);
  keep_older_loaders(observed, rollout, desired);
  if (!rollout.stopped_at.empty())
    desired.events.push_back({"Warning", "UpgradeStopped", stopped_message(observed, rollout)});
  desired.status.node_statuses = node_statuses(observed, kernels, desired.status.kernels, rollout);
  plan_preflight(observed, kernels, settings, desired);

  KernelModuleStatus& status = desired.status;
  status.observed_generation = observed.module.generation;
  status.upgrade = upgrade_status(observed, rollout, status);
  status.conditions = {building_condition(observed, planner.unfinished()),
                       degraded_condition(observed, planner.unfinished(), rollout), ready_condition(observed, status),
                       upgrading_condition(observed, status)};
  std::sort(status.conditions.begin(), status.conditions.end(),
            [](const Condition& a, const Condition& b) { return to_string(a.type) < to_string(b.type); });
  return desired;
}

std::vector<json> orphans(const std::vector<json>& owned, const std::map<std::string, std::string>& module_uids) {
  std::vector<json> out;
  for (const auto& object : owned) {
    const std::string owner =
        object.value("/metadata/labels"_json_pointer, json::object()).value(std::string(label::kernel_module), "");
    const auto module = module_uids.find(owner);
    bool orphaned = module == module_uids.end();
    if (!orphaned) {
      for (const auto& ref : object.value("/metadata/ownerReferences"_json_pointer, json::array()))
        if (ref.value("kind", "") == resource::kernel_modules.kind && ref.value("uid", "") != module->second)
          orphaned = true;
    }
    if (orphaned) out.push_back(object);
  }
  return out;
}

}  // namespace ckms::op
