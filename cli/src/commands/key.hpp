#pragma once
// `ckms key generate`: a module signing key and certificate as the kernel's x509.genkey
// makes them.

#include "app.hpp"

namespace ckms::cli {

void register_key_commands(App& app);

}  // namespace ckms::cli
