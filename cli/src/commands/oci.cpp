// Registry and layout commands: copy, inspect, tags, push, pull, login, logout.
#include "app.hpp"

namespace ckms::cli {

void register_oci_commands(App& app) {
  (void)app;
}

}  // namespace ckms::cli
