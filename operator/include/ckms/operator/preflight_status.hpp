#pragma once
// Where a kernel release of spec.kernels stands (status.preflight[]): a release that no
// selected node runs yet, built ahead so that its artifact exists before nodes boot it.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ckms::op {

enum class PreflightState { unknown, building, build_failed, published };
std::string_view to_string(PreflightState state);  // Unknown, Building, BuildFailed, Published
// The state a status string names; unknown for anything else.
PreflightState preflight_state(std::string_view text);

struct PreflightStatus {
  std::string release;
  PreflightState state = PreflightState::unknown;
  std::string message;  // the tag published, the Job building, or why not
  friend bool operator==(const PreflightStatus&, const PreflightStatus&) = default;
};

nlohmann::json to_json(const PreflightStatus& status);
PreflightStatus preflight_status_from_json(const nlohmann::json& status);

}  // namespace ckms::op
