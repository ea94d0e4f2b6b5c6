#include "ckms/operator/preflight_status.hpp"

#include "ckms/base/enum_names.hpp"
#include "ckms/operator/json_fields.hpp"

namespace ckms::op {
namespace {

constexpr EnumName<PreflightState> kStateNames[] = {{PreflightState::unknown, "Unknown"},
                                                    {PreflightState::building, "Building"},
                                                    {PreflightState::build_failed, "BuildFailed"},
                                                    {PreflightState::published, "Published"}};

}  // namespace

std::string_view to_string(PreflightState state) { return name_of(state, kStateNames); }

PreflightState preflight_state(std::string_view text) {
  return value_named(text, kStateNames).value_or(PreflightState::unknown);
}

nlohmann::json to_json(const PreflightStatus& status) {
  return {{"release", status.release}, {"state", to_string(status.state)}, {"message", status.message}};
}

PreflightStatus preflight_status_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return {};
  return {string_at(j, "/release"), preflight_state(string_at(j, "/state")), string_at(j, "/message")};
}

}  // namespace ckms::op
