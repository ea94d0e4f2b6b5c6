#include "app.hpp"
#include "commands/build.hpp"
#include "commands/lint.hpp"
#include "commands/load.hpp"
#include "commands/image.hpp"
#include "commands/key.hpp"
#include "commands/source.hpp"

int main(int argc, char** argv) {
  ckms::cli::App app;
  ckms::cli::register_oci_commands(app);
  ckms::cli::register_image_commands(app);
  ckms::cli::register_lint_commands(app);
  ckms::cli::register_source_commands(app);
  ckms::cli::register_key_commands(app);
  ckms::cli::register_load_commands(app);
  ckms::cli::register_build_commands(app);
  return app.run(argc, argv);
}
