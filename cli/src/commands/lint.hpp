#pragma once
// `ckms lint DIR`: reads a module tree's dkms.conf without running it (builder/lint.hpp).

#include "app.hpp"

namespace ckms::cli {

void register_lint_commands(App& app);

}  // namespace ckms::cli
