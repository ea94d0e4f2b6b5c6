#pragma once
// Reading fields of API objects that may lack them or hold another type: the operator reads
// what others wrote (the kubelet, controllers, users), so a missing field is an answer.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ckms::op {

// The string at `pointer` ("/status/phase"), or "" when it is absent or not a string.
inline std::string string_at(const nlohmann::json& object, const char* pointer) {
  const nlohmann::json::json_pointer p(pointer);
  return object.contains(p) && object[p].is_string() ? object[p].get<std::string>() : std::string();
}

// True when `object`'s status.conditions has `type` with status "True" (a Job's Complete or
// Failed, a pod's Ready).
inline bool has_true_condition(const nlohmann::json& object, std::string_view type) {
  const nlohmann::json::json_pointer p("/status/conditions");
  if (!object.contains(p) || !object[p].is_array()) return false;
  for (const auto& c : object[p])
    if (c.is_object() && c.value("type", "") == type && c.value("status", "") == "True") return true;
  return false;
}

// The message of `object`'s condition `type` (its reason when it has none), or "".
inline std::string condition_message(const nlohmann::json& object, std::string_view type) {
  for (const auto& c : object.value("/status/conditions"_json_pointer, nlohmann::json::array()))
    if (c.is_object() && c.value("type", "") == type) return c.value("message", c.value("reason", ""));
  return {};
}

}  // namespace ckms::op
