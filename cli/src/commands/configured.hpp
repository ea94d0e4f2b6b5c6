// The outcome of `--all` over a boot config directory (`ckms load --all`, `ckms install
// --all`): a line or JSON document per file, then the first failure's exit code.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app.hpp"
#include "ckms/base/exit_code.hpp"
#include "ckms/loader/boot_config.hpp"

namespace ckms::cli {

template <class Report, class PrintReport>
void report_configured(App& app, const std::filesystem::path& dir,
                       const std::vector<loader::ConfiguredResult<Report>>& results, PrintReport print_report) {
  const bool json = app.options().json;
  nlohmann::json documents = nlohmann::json::array();
  int exit_code = kExitOk;
  for (const auto& result : results) {
    nlohmann::json j{{"file", result.file.string()}};
    if (result.skipped) {
      j["skipped"] = true;
      if (!json) fmt::print("{}: disabled, skipped\n", result.file.string());
    } else if (result.report) {
      j["report"] = result.report->to_json();
      if (!json) print_report(*result.report);
    } else {
      j["error"] = result.error->what();
      j["exit_code"] = exit_code_for(result.error->kind());
      fmt::print(stderr, "ckms: error: {}\n", result.error->what());
      if (exit_code == kExitOk) exit_code = exit_code_for(result.error->kind());
    }
    documents.push_back(std::move(j));
  }
  if (json) print_json({{"configDir", dir.string()}, {"results", documents}});
  if (results.empty() && !json) fmt::print("{}: no module configurations\n", dir.string());
  // Each file's outcome is printed already; leave with the first failure's code.
  if (exit_code != kExitOk) {
    std::fflush(stdout);
    std::exit(exit_code);
  }
}

}  // namespace ckms::cli
