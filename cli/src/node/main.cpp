// `ckms` as installed: a small binary that runs the node's cache-only work itself (`load
// --offline`, `unload`, `status`, `early-modules`) and hands every other command to ckms-full. A node
// inserting a module at boot then maps a handful of libraries instead of the four dozen
// that registry, archive and build code bring (docs/architecture.md, "Two binaries").

#include <string_view>

#include "app.hpp"
#include "commands/load.hpp"
#include "handover.hpp"

namespace {

// Global options take no value, so the first argument without a dash names the command.
bool runs_here(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("-")) {
      if (arg == "--help" || arg == "-h") return false;
      continue;
    }
    return arg == "load" || arg == "unload" || arg == "status" || arg == "early-modules";
  }
  return argc == 2 && std::string_view(argv[1]) == "--version";
}

}  // namespace

int main(int argc, char** argv) {
  if (!runs_here(argc, argv)) ckms::cli::hand_over(argv);
  ckms::cli::App app;
  ckms::cli::register_load_commands(app);
  return app.run(argc, argv);
}
