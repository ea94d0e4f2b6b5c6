#pragma once
// `ckms key generate|enroll|show|status`: module signing keys as the kernel's x509.genkey
// makes them, and getting their certificates among the keys a Secure Boot kernel trusts.

#include "app.hpp"

namespace ckms::cli {

void register_key_commands(App& app);

}  // namespace ckms::cli
