// The loads ckms-full runs itself: from a registry or a source layout, and the boot
// configuration (`--all`, `--config-dir`), which may ask a registry.
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "ckms/loader/boot_config.hpp"
#include "configured.hpp"
#include "load.hpp"

namespace ckms::cli {
namespace fs = std::filesystem;

namespace {

void run_boot_config(App& app, const LoadArgs& args, loader::Kernel& kernel) {
  const fs::path dir = args.all ? fs::path(loader::kDefaultConfigDir) : fs::path(args.config_dir);
  report_configured(app, dir,
                    loader::load_boot_config(dir, std::vector<fs::path>(args.trust.begin(), args.trust.end()),
                                             args.paths.paths(), kernel),
                    [&](const loader::LoadReport& report) { print_load_report(app, report); });
}

}  // namespace

void load_beyond_cache(App& app, const LoadArgs& args, loader::Kernel& kernel) {
  if (args.all || !args.config_dir.empty()) {
    run_boot_config(app, args, kernel);
    return;
  }
  print_load_report(app, loader::load(request_from(args), args.paths.paths(), kernel));
}

loader::InTreePlanner in_tree_planner(App&) { return loader::plan_in_tree; }

}  // namespace ckms::cli
