// `ckms lint DIR [--kernel REL] [--arch ARCH] [--kernel-config FILE]`: exit 0 when the tree
// is buildable, 1 when dkms.conf has errors, 2 on usage.
#include "lint.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "ckms/builder/lint.hpp"

namespace ckms::cli {
namespace {

struct LintArgs {
  std::string dir;
  std::string kernel;
  std::string arch = "x86_64";
  std::string kernel_config;
};

void print_human(const builder::LintReport& report) {
  const auto& c = report.conf;
  fmt::print("{}: {} {}\n", report.conf_path.string(), c.package_name.empty() ? "?" : c.package_name,
             c.package_version.empty() ? "?" : c.package_version);
  fmt::print("directives: {}\n", fmt::join(c.directives_set(), " "));
  for (const auto& m : c.modules) {
    fmt::print("module[{}]: {}{}.ko -> {}/{}.ko{}\n", m.index, m.built_location, m.built_name, m.dest_location,
               m.dest_name, m.strip ? "" : " (not stripped)");
  }
  if (report.plan) {
    const auto& p = *report.plan;
    if (p.excluded) {
      fmt::print("kernel {}: excluded\n", p.kernel_release);
    } else {
      const bool computed =
          std::find(report.undetermined.begin(), report.undetermined.end(), "MAKE") != report.undetermined.end();
      if (computed) {
        // The default below is not what runs: the build evaluates MAKE in its sandbox.
        fmt::print("kernel {}: MAKE is computed by shell logic; the build runs what it evaluates to (without it: {})\n",
                   p.kernel_release, p.make_invocation);
      } else {
        fmt::print("kernel {}: {}\n", p.kernel_release, p.make_invocation);
      }
      for (const auto& patch : p.patches) fmt::print("  patch {}\n", patch);
    }
  }
  for (const auto& f : report.findings) {
    if (f.line > 0) {
      fmt::print("{}:{}: {}: {}\n", report.conf_path.string(), f.line, builder::to_string(f.severity), f.message);
    } else {
      fmt::print("{}: {}: {}\n", report.conf_path.string(), builder::to_string(f.severity), f.message);
    }
  }
  fmt::print("{} error(s), {} warning(s); {}\n", report.count(builder::Severity::error),
             report.count(builder::Severity::warning),
             report.exact ? "read exactly as DKMS reads it" : "the build evaluates it in the sandbox for exact values");
}

}  // namespace

void register_lint_commands(App& app) {
  auto args = std::make_shared<LintArgs>();
  CLI::App* lint = app.root().add_subcommand(
      "lint", "Read a module tree's dkms.conf without running it and report what ckms will do");
  lint->add_option("DIR", args->dir, "Module source tree holding dkms.conf")->required();
  lint->add_option("--kernel", args->kernel, "Kernel release to plan a build for");
  lint->add_option("--arch", args->arch, "Architecture as `uname -m` prints it")->capture_default_str();
  lint->add_option("--kernel-config", args->kernel_config,
                   "The kernel's .config, for BUILD_EXCLUSIVE_CONFIG (with --kernel)");
  app.on(lint, [&app, args] {
    builder::LintOptions options;
    if (!args->kernel.empty()) options.kernel_release = args->kernel;
    options.arch = args->arch;
    if (!args->kernel_config.empty()) {
      if (args->kernel.empty()) fail(ErrorKind::usage, "--kernel-config needs --kernel");
      options.kernel_config = args->kernel_config;
    }
    const builder::LintReport report = builder::lint(args->dir, options);
    if (app.options().json) {
      print_json(report);
    } else {
      print_human(report);
    }
    // Errors in the file are the command's answer, not a failure to run: the report is
    // already printed, so leave with its status instead of an error message.
    if (!report.buildable()) {
      std::fflush(stdout);
      std::exit(kExitFailure);
    }
  });
}

}  // namespace ckms::cli
