#pragma once
// Names of layer entries. Names from a tar header are untrusted: they are normalised once here,
// and written only beneath the target root (ckms::BeneathRoot).

#include <cstddef>
#include <string>
#include <string_view>

#include "ckms/base/beneath_root.hpp"

namespace ckms::oci {

// Normalises a tar entry name into a relative path of plain components ("" is the root).
// Leading "/" (as GNU tar does) and one leading "./" are stripped, and a trailing "/" is
// dropped; any "..", inner "." or empty component, NUL byte, component longer than NAME_MAX or
// name longer than `max_length` is refused with a refused error naming `what` (layer and entry).
std::string normalize_entry_name(std::string_view name, std::size_t max_length, std::string_view what);

}  // namespace ckms::oci
