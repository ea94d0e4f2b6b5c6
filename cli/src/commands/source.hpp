#pragma once
// `ckms source push` and `ckms source pull`: DKMS source trees as OCI artifacts.

#include "app.hpp"

namespace ckms::cli {

void register_source_commands(App& app);

}  // namespace ckms::cli
