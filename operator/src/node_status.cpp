#include "ckms/operator/node_status.hpp"

#include "ckms/base/enum_names.hpp"
#include "ckms/operator/json_fields.hpp"

namespace ckms::op {
namespace {

constexpr EnumName<NodeState> kStateNames[] = {{NodeState::pending, "Pending"},
                                               {NodeState::loaded, "Loaded"},
                                               {NodeState::failed, "Failed"},
                                               {NodeState::upgrading, "Upgrading"}};

}  // namespace

std::string_view to_string(NodeState state) { return name_of(state, kStateNames); }

NodeState node_state(std::string_view text) { return value_named(text, kStateNames).value_or(NodeState::pending); }

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
