#pragma once
// An enum's names as one table, read both ways: to the string a file or an API carries, and
// back. Each enum keeps its table beside its declaration, so a new value is named once.

#include <cstddef>
#include <optional>
#include <string_view>

namespace ckms {

template <class Enum>
struct EnumName {
  Enum value;
  std::string_view name;
};

// The name of `value`; "unknown" for a value the table lacks (a cast from a bad integer).
template <class Enum, std::size_t N>
constexpr std::string_view name_of(Enum value, const EnumName<Enum> (&names)[N]) {
  for (const auto& entry : names)
    if (entry.value == value) return entry.name;
  return "unknown";
}

// The value `name` names, or nothing when the table has no such name.
template <class Enum, std::size_t N>
constexpr std::optional<Enum> value_named(std::string_view name, const EnumName<Enum> (&names)[N]) {
  for (const auto& entry : names)
    if (entry.name == name) return entry.value;
  return std::nullopt;
}

}  // namespace ckms
