#include "ckms/operator/reconcile.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "ckms/operator/json_fields.hpp"
#include "ckms/operator/loader_pods.hpp"
#include "ckms/operator/preflight.hpp"
#include "ckms/operator/resources.hpp"

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

Condition make_condition(const KernelModule& module, std::string type, bool value, std::string reason,
                         std::string message, const std::string& now) {
  Condition c{std::move(type), value ? "True" : "False", std::move(reason), std::move(message), now, module.generation};
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

void mark_degraded(KernelModuleStatus& status, const KernelModule& module, const std::string& reason,
                   const std::string& message, const std::string& now) {
  for (auto& c : status.conditions) {
    if (c.type != "Degraded") continue;
    // A problem found by reconcile keeps its reason; this one is added to what it says.
    if (c.status == "True" && c.reason != reason) {
      c.message += "; " + message;
      return;
    }
    c.status = "True";
    c.reason = reason;
    c.message = message;
    const Condition* old = module.status.condition("Degraded");
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

Desired reconcile(const Observed& observed, const OperatorSettings& settings) {
  const KernelModule& module = observed.module;
  Desired desired;
  if (module.deleting) return desired;  // garbage collection takes it from here

  const auto kernels = nodes_by_kernel(module.spec, observed.nodes);
  std::vector<std::string> building, build_failed, load_failed, unknown;
  for (const auto& [release, nodes] : kernels) {
    KernelStatus ks{release, static_cast<int>(nodes.size())};
    const auto found = observed.artifacts.find(release);
    Availability availability = found == observed.artifacts.end() ? Availability::unknown : found->second;
    const json* job = find_by_release(observed.jobs, release);
    const json* ds = find_by_release(observed.daemon_sets, release);
    // Without an answer from the registry, a kernel that already had a loader keeps it
    // and one that was building keeps building: nothing is torn down on a guess.
    if (availability == Availability::unknown && ds) availability = Availability::published;

    if (availability == Availability::published) {
      desired.daemon_sets.push_back(loader_daemon_set(module, release, nodes, settings));
      // The build's logs are the only diagnosis when its loader then fails: its Job stays
      // until the loader exists.
      if (job && !ds) desired.jobs.push_back(*job);
      ks.built = ks.nodes;
      const std::set<std::string> on_kernel(nodes.begin(), nodes.end());
      for (const auto& pod : observed.pods) {
        // Build pods carry the same owner and kernel labels; only loaders say "loaded".
        const json labels = pod.value("/metadata/labels"_json_pointer, json::object());
        if (labels.value(std::string(label::kernel), "") != kernel_key(release) ||
            labels.value(std::string(label::component), "") != "load")
          continue;
        const std::string node = string_at(pod, "/spec/nodeName");
        if (!on_kernel.contains(node) || !pod.value("/metadata/deletionTimestamp"_json_pointer, json()).is_null())
          continue;
        if (loader_ready(pod)) {
          ++ks.loaded;
        } else if (const std::string why = loader_failure(pod); !why.empty()) {
          ++ks.failed;
          load_failed.push_back(fmt::format("{} ({})", node, release));
          desired.events.push_back(
              {"Warning", "LoadFailed", fmt::format("loading on node {} (kernel {}) fails: {}", node, release, why)});
        }
      }
      ks.loaded = std::min(ks.loaded, ks.nodes);
      ks.phase = ks.loaded == ks.nodes ? KernelPhase::loaded : KernelPhase::loading;
    } else if (availability == Availability::missing) {
      desired.jobs.push_back(build_job(module, release, settings));
      const bool same_job = job && spec_hash(*job) == spec_hash(desired.jobs.back());
      if (same_job && has_true_condition(*job, "Failed")) {
        ks.failed = ks.nodes;
        ks.phase = KernelPhase::build_failed;
        build_failed.push_back(release);
        desired.events.push_back({"Warning", "BuildFailed",
                                  fmt::format("build for kernel {} failed (Job {}): {}", release,
                                              string_at(*job, "/metadata/name"), condition_message(*job, "Failed"))});
      } else if (same_job && has_true_condition(*job, "Complete")) {
        // The Job says it published, the registry has no tag: a wrong --output or a tag
        // rule that differs between builder and operator. Rebuilding would not help.
        ks.failed = ks.nodes;
        ks.phase = KernelPhase::build_failed;
        build_failed.push_back(release);
        desired.events.push_back({"Warning", "ArtifactMissing",
                                  fmt::format("build Job {} for kernel {} completed, but {} has no tag for it",
                                              string_at(*job, "/metadata/name"), release, module.spec.repository)});
      } else {
        ks.phase = KernelPhase::building;
        building.push_back(release);
      }
    } else {
      if (job) desired.jobs.push_back(*job);
      ks.phase = KernelPhase::unknown;
      const auto why = observed.unanswered.find(release);
      unknown.push_back(why == observed.unanswered.end() ? release : fmt::format("{} ({})", release, why->second));
    }
    desired.status.nodes += ks.nodes;
    desired.status.loaded += ks.loaded;
    desired.status.kernels.push_back(std::move(ks));
  }
  desired.status.node_statuses = node_statuses(observed, kernels, desired.status.kernels);
  plan_preflight(observed, kernels, settings, desired);

  KernelModuleStatus& status = desired.status;
  status.observed_generation = module.generation;
  const std::string& now = observed.now;
  status.conditions.push_back(make_condition(module, "Building", !building.empty(),
                                             building.empty() ? "NoBuilds" : "BuildsRunning",
                                             building.empty() ? "" : "building for " + join(building), now));
  std::string degraded_reason = "AsExpected";
  std::vector<std::string> problems;
  if (!build_failed.empty()) {
    degraded_reason = "BuildFailed";
    problems.push_back("build failed for " + join(build_failed));
  }
  if (!load_failed.empty()) {
    if (problems.empty()) degraded_reason = "LoadFailed";
    problems.push_back("loading fails on " + join(load_failed));
  }
  if (!unknown.empty()) {
    if (problems.empty()) degraded_reason = "RegistryUnreachable";
    problems.push_back("no answer from the registry for " + join(unknown));
  }
  status.conditions.push_back(make_condition(module, "Degraded", !problems.empty(), degraded_reason,
                                             problems.empty() ? "" : join(problems), now));
  const bool ready = status.nodes > 0 && status.loaded == status.nodes;
  std::string ready_reason = ready ? "AllNodesLoaded" : status.nodes == 0 ? "NoNodesSelected" : "NotAllNodesLoaded";
  status.conditions.push_back(make_condition(module, "Ready", ready, ready_reason,
                                             fmt::format("{} of {} nodes loaded", status.loaded, status.nodes), now));
  std::sort(status.conditions.begin(), status.conditions.end(),
            [](const Condition& a, const Condition& b) { return a.type < b.type; });
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
