#pragma once
// The generated bash scripts (build_script.cpp, dkms_conf_eval.cpp) carry values from
// dkms.conf and the build plan as single-quoted words, which bash takes literally.

#include <string>
#include <string_view>

namespace ckms::builder {

// 'text', with each ' written as '\''.
std::string shell_quoted(std::string_view text);

}  // namespace ckms::builder
