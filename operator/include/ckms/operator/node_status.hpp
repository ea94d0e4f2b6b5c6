#pragma once
// Where a KernelModule stands on one node (status.nodeStatus[]), so that `kubectl describe`
// shows which build is loaded where and why a node failed.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ckms::op {

enum class NodeState { pending, loaded, failed, upgrading };
std::string_view to_string(NodeState state);  // Pending, Loaded, Failed, Upgrading
// The state a status string names; pending for anything else.
NodeState node_state(std::string_view text);

struct NodeStatus {
  std::string node;
  std::string kernel;  // the node's kernel release
  NodeState state = NodeState::pending;
  std::string message;  // the artifact loaded, or why not (the loader's last words)
  std::string since;    // RFC 3339: when the node entered this state
  friend bool operator==(const NodeStatus&, const NodeStatus&) = default;
};

nlohmann::json to_json(const NodeStatus& status);
// What cannot be read is left empty, to be recomputed (status is the operator's own).
NodeStatus node_status_from_json(const nlohmann::json& status);

}  // namespace ckms::op
