#include <sys/stat.h>

#include "app.hpp"
#include "commands/build.hpp"
#include "commands/image.hpp"
#include "commands/install.hpp"
#include "commands/kernels.hpp"
#include "commands/key.hpp"
#include "commands/lint.hpp"
#include "commands/load.hpp"
#include "commands/source.hpp"

int main(int argc, char** argv) {
  // What ckms creates as root (caches, state, layouts) is never group- or world-writable,
  // whatever umask it inherits; a stricter umask stays as it is.
  ::umask(::umask(0) | 022);
  ckms::cli::App app;
  ckms::cli::register_oci_commands(app);
  ckms::cli::register_image_commands(app);
  ckms::cli::register_lint_commands(app);
  ckms::cli::register_source_commands(app);
  ckms::cli::register_key_commands(app);
  ckms::cli::register_load_commands(app);
  ckms::cli::register_install_commands(app);
  ckms::cli::register_build_commands(app);
  ckms::cli::register_kernels_commands(app);
  return app.run(argc, argv);
}
