#pragma once
// `ckms build SOURCE`: builds a DKMS module source for kernels in sandboxes against their
// build images, signs and publishes the modules (builder/build.hpp, docs/build.md).

#include "app.hpp"

namespace ckms::cli {

void register_build_commands(App& app);

}  // namespace ckms::cli
