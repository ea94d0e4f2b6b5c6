#pragma once
// `ckms lint`: what a dkms.conf asks for and what ckms can or cannot do with it, read with
// the static parser only (nothing is run). Errors mean the tree cannot be built as it is;
// warnings mean it can, but something needs a look or sandbox evaluation.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/builder/build_plan.hpp"
#include "ckms/builder/dkms_conf.hpp"
#include "ckms/builder/dkms_conf_static.hpp"

namespace ckms::builder {

enum class Severity { error, warning, note };

struct LintFinding {
  Severity severity = Severity::warning;
  std::size_t line = 0;  // 0: the file as a whole
  std::string message;
};

struct LintOptions {
  // Kernel to evaluate for; without one, a placeholder release stands in for $kernelver
  // and nothing is planned.
  std::optional<std::string> kernel_release;
  std::string arch = "x86_64";
  std::optional<std::filesystem::path> kernel_config;  // the kernel's .config, if at hand
};

struct LintReport {
  std::filesystem::path conf_path;
  DkmsConf conf;
  bool exact = true;                      // the static reading is what DKMS would see
  std::vector<std::string> undetermined;  // DKMS variables that need sandbox evaluation
  std::vector<LintFinding> findings;
  std::optional<BuildPlan> plan;  // with --kernel

  bool buildable() const;  // no error findings
  std::size_t count(Severity severity) const;
};

std::string_view to_string(Severity severity);

// Reads <source_dir>/dkms.conf. Throws not_found when it is missing and usage when it is
// too large or not text; everything else becomes a finding.
LintReport lint(const std::filesystem::path& source_dir, const LintOptions& options = {});

void to_json(nlohmann::json& j, const LintReport& report);

}  // namespace ckms::builder
