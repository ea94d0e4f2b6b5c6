#pragma once
// `ckms install`, `ckms uninstall`: the node's module tree (loader/install.hpp). ckms-full
// runs them; the node binary hands them over, since an install fetches and runs depmod.

#include "app.hpp"

namespace ckms::cli {

void register_install_commands(App& app);

}  // namespace ckms::cli
