#pragma once
// What the loader pods report, read as the kubelet publishes it. A loader that loaded the
// module passes its readiness probe (the marker its entrypoint writes after `ckms load`);
// one that failed exits, and its container's terminationMessagePolicy FallbackToLogsOnError
// makes the kubelet publish the end of its log, ckms's own error line, as the termination
// message. No write to the API from the node is needed: the loader has no API credentials.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/operator/node_status.hpp"
#include "ckms/operator/reconcile.hpp"

namespace ckms::op {
struct RolloutPlan;
}

namespace ckms::op {

// Status lists at most this many nodes (failed first): a status is written whole, and
// etcd holds an object of at most 1.5 MiB.
inline constexpr std::size_t kMaxNodeStatuses = 1000;

// True when a loader pod reports the module loaded (its Ready condition).
bool loader_ready(const nlohmann::json& pod);
// Why a loader pod is failing (the last line ckms wrote, or the kubelet's reason), or ""
// when it is not (yet) failing.
std::string loader_failure(const nlohmann::json& pod);

// One entry per selected node of `kernels` (release -> node names), from each kernel's
// phase and the node's loader pod. `since` comes from the pod's own times where it has
// them (Ready's transition, the termination, the creation), else it is kept from the
// module's previous status while the state holds, else it is `observed.now`: an unchanged
// cluster gives an identical list. While a version rolls out (`rollout`), a node still on an
// older build says which, and one between builds is Upgrading.
std::vector<NodeStatus> node_statuses(const Observed& observed,
                                      const std::map<std::string, std::vector<std::string>>& kernels,
                                      const std::vector<KernelStatus>& kernel_statuses, const RolloutPlan& rollout);

}  // namespace ckms::op
