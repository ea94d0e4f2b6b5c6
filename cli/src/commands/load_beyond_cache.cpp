// The loads ckms-full runs itself: from a registry or a source layout, and the boot
// configuration (`--all`, `--config-dir`), which may ask a registry.
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "ckms/loader/boot_config.hpp"
#include "load.hpp"

namespace ckms::cli {
namespace fs = std::filesystem;

namespace {

void run_boot_config(App& app, const LoadArgs& args, loader::Kernel& kernel) {
  const fs::path dir = args.all ? fs::path(loader::kDefaultConfigDir) : fs::path(args.config_dir);
  const auto results = loader::load_boot_config(dir, std::vector<fs::path>(args.trust.begin(), args.trust.end()),
                                                args.paths.paths(), kernel);
  nlohmann::json documents = nlohmann::json::array();
  int exit_code = kExitOk;
  for (const auto& result : results) {
    nlohmann::json j{{"file", result.file.string()}};
    if (result.skipped) {
      j["skipped"] = true;
      if (!app.options().json) fmt::print("{}: disabled, skipped\n", result.file.string());
    } else if (result.report) {
      j["report"] = result.report->to_json();
      if (!app.options().json) print_load_report(app, *result.report);
    } else {
      j["error"] = result.error->what();
      j["exit_code"] = exit_code_for(result.error->kind());
      fmt::print(stderr, "ckms: error: {}\n", result.error->what());
      if (exit_code == kExitOk) exit_code = exit_code_for(result.error->kind());
    }
    documents.push_back(std::move(j));
  }
  if (app.options().json) print_json({{"configDir", dir.string()}, {"results", documents}});
  if (results.empty() && !app.options().json) fmt::print("{}: no module configurations\n", dir.string());
  // Each file's outcome is printed already; leave with the first failure's code.
  if (exit_code != kExitOk) {
    std::fflush(stdout);
    std::exit(exit_code);
  }
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
