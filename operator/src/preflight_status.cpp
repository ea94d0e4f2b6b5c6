#include "ckms/operator/preflight_status.hpp"

#include "ckms/operator/json_fields.hpp"

namespace ckms::op {
namespace {

constexpr std::pair<PreflightState, std::string_view> kStateNames[] = {{PreflightState::unknown, "Unknown"},
                                                                       {PreflightState::building, "Building"},
                                                                       {PreflightState::build_failed, "BuildFailed"},
                                                                       {PreflightState::published, "Published"}};

}  // namespace

std::string_view to_string(PreflightState state) {
  for (const auto& [s, name] : kStateNames)
    if (s == state) return name;
  return "Unknown";
}

PreflightState preflight_state(std::string_view text) {
  for (const auto& [s, name] : kStateNames)
    if (name == text) return s;
  return PreflightState::unknown;
}

nlohmann::json to_json(const PreflightStatus& status) {
  return {{"release", status.release}, {"state", to_string(status.state)}, {"message", status.message}};
}

PreflightStatus preflight_status_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return {};
  return {string_at(j, "/release"), preflight_state(string_at(j, "/state")), string_at(j, "/message")};
}

}  // namespace ckms::op
