#include "ckms/operator/node_status.hpp"

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
  const auto text = [&](const char* key) { return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : ""; };
  return {text("node"), text("kernel"), node_state(text("state")), text("message"), text("since")};
}

}  // namespace ckms::op
