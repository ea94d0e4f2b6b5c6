#pragma once
// Reading fields of API objects that may lack them or hold another type: the operator reads
// what others wrote (the kubelet, controllers, users), so a missing field is an answer.

#include <string>

#include <nlohmann/json.hpp>

namespace ckms::op {

// The string at `pointer` ("/status/phase"), or "" when it is absent or not a string.
inline std::string string_at(const nlohmann::json& object, const char* pointer) {
  const nlohmann::json::json_pointer p(pointer);
  return object.contains(p) && object[p].is_string() ? object[p].get<std::string>() : std::string();
}

}  // namespace ckms::op
