#pragma once
// What a failed build's log says went wrong. With parallel make the compiler's error is
// often far above the end of the log, which holds only make's `Error 2` lines; these are
// the lines a person looks for first.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ckms::builder {

// The first `limit` lines of `log` that report an error: the compiler's and the linker's
// (`error:`, `fatal error:`, `undefined reference to`), modpost's (`ERROR: modpost: "x"
// undefined!`) and make's own (`*** ... Stop.`), in log order. make's `*** [...] Error N`
// lines only repeat that a command failed and are left out.
std::vector<std::string> first_error_lines(std::string_view log, std::size_t limit = 10);

}  // namespace ckms::builder
