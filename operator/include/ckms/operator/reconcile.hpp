#pragma once
// The controller's decisions as a pure function: from what was observed (the resource,
// nodes, the workloads it owns, their pods, and which kernels have a published artifact)
// to what should exist (Jobs, DaemonSets, status) and what to report (Events). No I/O:
// apply.hpp makes the cluster look like the result, and the tests feed it real API JSON.

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/operator/kernel_module.hpp"
#include "ckms/operator/workloads.hpp"

namespace ckms::op {

// Whether the registry holds the per-kernel tag `<version>-<release>`.
enum class Availability { published, missing, unknown };

struct Observed {
  KernelModule module;
  std::vector<nlohmann::json> nodes;              // every node (selection happens here)
  std::vector<nlohmann::json> jobs;               // labelled as this module's
  std::vector<nlohmann::json> daemon_sets;        // labelled as this module's
  std::vector<nlohmann::json> pods;               // this module's loader pods
  std::map<std::string, Availability> artifacts;  // per kernel release of the selected nodes
  std::map<std::string, std::string> unanswered;  // why the registry gave no answer, by release
  std::string now;                                // RFC 3339, stamped on conditions that change
};

struct EventIntent {
  std::string type;  // Normal, Warning
  std::string reason;
  std::string message;
  friend bool operator==(const EventIntent&, const EventIntent&) = default;
};

struct Desired {
  std::vector<nlohmann::json> jobs;
  std::vector<nlohmann::json> daemon_sets;
  KernelModuleStatus status;
  std::vector<EventIntent> events;
};

// Selected nodes (nodeSelector matches, every NoSchedule/NoExecute taint tolerated, a
// kernel reported) by status.nodeInfo.kernelVersion, node names sorted.
std::map<std::string, std::vector<std::string>> nodes_by_kernel(const KernelModuleSpec& spec,
                                                                const std::vector<nlohmann::json>& nodes);

// True when `tolerations` (core/v1 Toleration objects) tolerate `taint`.
bool tolerates(const nlohmann::json& tolerations, const nlohmann::json& taint);

Desired reconcile(const Observed& observed, const OperatorSettings& settings);

// Turns `status`'s Degraded condition True for `reason` (a problem found outside
// reconcile: a spec that cannot be read, a write the API server refused), keeping the
// transition time `module` recorded when it was Degraded already.
void mark_degraded(KernelModuleStatus& status, const KernelModule& module, ConditionReason reason,
                   const std::string& message, const std::string& now);

// Objects labelled as created for a KernelModule that no longer exists (by name), or
// whose owner reference names another incarnation (uid) of it. Garbage collection removes
// them too; the controller does not wait for it.
std::vector<nlohmann::json> orphans(const std::vector<nlohmann::json>& owned,
                                    const std::map<std::string, std::string>& module_uids);

}  // namespace ckms::op
