#pragma once
// What every command shares: global options, output in the user's or a machine's form,
// and errors reported with their exit code (ckms::exit_code_for).

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ckms/base/exit_code.hpp"

namespace ckms::cli {

struct GlobalOptions {
  bool json = false;   // machine-readable output on stdout
  bool quiet = false;  // no progress
  int verbose = 0;
};

// A command's action: runs after parsing; throws ckms::Error on failure.
using Action = std::function<void()>;

class App {
 public:
  App();
  CLI::App& root() { return root_; }
  GlobalOptions& options() { return options_; }
  // A command group (`ckms key`, `ckms image`): alone it is a usage error, one of its
  // subcommands must follow.
  CLI::App* add_group(const std::string& name, const std::string& description);
  // Registers the action for a subcommand; only the parsed subcommand's action runs.
  void on(CLI::App* command, Action action);
  int run(int argc, char** argv);
  // The command line run() was given, argv[0] first.
  char** argv() const { return argv_; }

 private:
  // Prints the error (as JSON too with --json) and returns its exit code.
  int report(const Error& e) const;

  CLI::App root_;
  GlobalOptions options_;
  std::vector<std::pair<CLI::App*, Action>> actions_;
  char** argv_ = nullptr;
};

// Output: human lines on stdout, or one JSON document when --json is set.
void print_json(const nlohmann::json& document);

// Each command group registers itself here; see main.cpp.
void register_oci_commands(App& app);

}  // namespace ckms::cli
