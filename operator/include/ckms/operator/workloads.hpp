#pragma once
// The Jobs and DaemonSets the operator creates, as complete API objects. Names are derived
// from the KernelModule and a short hash of the kernel release (releases hold characters
// names and labels cannot); the release itself is an annotation. Each object carries a
// hash of everything but the node list, so a changed spec is told apart from a node that
// joined or left.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/operator/kernel_module.hpp"

namespace ckms::op {

struct OperatorSettings {
  std::string ckms_image = "ckms:latest";  // holds /opt/ckms and serves as the loader image
  std::string image_pull_policy = "IfNotPresent";
  int build_backoff_limit = 1;
  std::int64_t build_deadline_seconds = 3600;
};

// 10 hex digits of sha256(release): stable, label- and name-safe.
std::string kernel_key(std::string_view release);
// 10 hex digits of sha256(version): the label that tells a loader pod's build from another.
std::string version_key(std::string_view version);
std::string build_job_name(const KernelModule& module, std::string_view release);
// Per kernel and version: while a version rolls out, the older version's loader stays
// beside the new one (rollout.hpp), each pinned to its own nodes.
std::string loader_name(const KernelModule& module, std::string_view release);

nlohmann::json build_job(const KernelModule& module, std::string_view release, const OperatorSettings& settings);
// `nodes` are the node names the loader is pinned to (matchFields on metadata.name, which
// is how the DaemonSet controller itself places pods), one node selector term per node.
nlohmann::json loader_daemon_set(const KernelModule& module, std::string_view release,
                                 const std::vector<std::string>& nodes, const OperatorSettings& settings);

// Pins a loader DaemonSet to `nodes`. Under its OnDelete update strategy, the changed
// template starts a pod on a node that joined and stops the one on a node that left; the
// pods elsewhere keep running.
void pin_nodes(nlohmann::json& daemon_set, const std::vector<std::string>& nodes);
// The node names a loader DaemonSet is pinned to.
std::vector<std::string> pinned_nodes(const nlohmann::json& daemon_set);
// The spec-hash annotation ("" when absent).
std::string spec_hash(const nlohmann::json& object);
// The kernel-release annotation ("" when absent).
std::string kernel_release_of(const nlohmann::json& object);
// The module-version annotation ("" when absent).
std::string module_version_of(const nlohmann::json& object);

}  // namespace ckms::op
