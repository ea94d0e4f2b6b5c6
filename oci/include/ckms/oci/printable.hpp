#pragma once
// Text from outside (a registry's error bodies, tags, annotations, titles; a module's modinfo)
// made safe to print for a human: a terminal acts on escape sequences and control
// characters, so a registry could otherwise rewrite the screen, hide lines or retitle the
// window. JSON output needs none of this: nlohmann escapes control characters itself.

#include <string>
#include <string_view>

namespace ckms::oci {

// `text` with every control character (C0, DEL, and C1 as UTF-8 encodes it) and every byte
// that is not part of valid UTF-8 written as a visible \xNN escape; other UTF-8 is kept.
std::string printable(std::string_view text);

}  // namespace ckms::oci
