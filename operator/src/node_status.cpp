#include "ckms/operator/node_status.hpp"

#include "ckms/operator/json_fields.hpp"

namespace ckms::op {
namespace {

constexpr std::pair<NodeState, std::string_view> kStateNames[] = {
    {NodeState::pending, "Pending"}, {NodeState::loaded, "Loaded"}, {NodeState::failed, "Failed"}};

}  // namespace

std::string_view to_string(NodeState state) {
  for (const auto& [s, name] : kStateNames)
    if (s == state) return name;
  return "Pending";
}

NodeState node_state(std::string_view text) {
  for (const auto& [s, name] : kStateNames)
    if (name == text) return s;
  return NodeState::pending;
}

nlohmann::json to_json(const NodeStatus& status) {
  return {{"node", status.node},
          {"kernel", status.kernel},
          {"state", to_string(status.state)},
          {"message", status.message},
          {"since", status.since}};
}

NodeStatus node_status_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return {};
  return {string_at(j, "/node"), string_at(j, "/kernel"), node_state(string_at(j, "/state")), string_at(j, "/message"),
          string_at(j, "/since")};
}

}  // namespace ckms::op
