#pragma once
// `ckms load`, `ckms unload`, `ckms status`: the node side (loader/).

#include "app.hpp"

namespace ckms::cli {

void register_load_commands(App& app);

}  // namespace ckms::cli
