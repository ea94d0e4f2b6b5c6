#include "app.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "ckms/oci/printable.hpp"

namespace ckms::cli {

App::App() : root_("ckms: build, publish and load kernel modules as OCI artifacts", "ckms") {
  // Printed and left from the flag's callback: CLI11's own version flag throws, and the
  // static node binary's first exception sorts every unwind table it holds, which costs a
  // hundred times its whole start (cli/CMakeLists.txt).
  root_.add_flag_callback(
      "--version",
      [] {
        fmt::print("ckms {}\n", CKMS_VERSION);
        std::fflush(stdout);
        std::exit(kExitOk);
      },
      "Display program version information and exit");
  root_.require_subcommand(1);
  root_.fallthrough();
  root_.add_flag("--json", options_.json, "Print machine-readable JSON on stdout");
  root_.add_flag("-q,--quiet", options_.quiet, "No progress output");
  root_.add_flag("-v,--verbose", options_.verbose, "More detail on stderr (repeatable)");
  root_.footer(
      "Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 integrity, 5 refused, 6 auth, "
      "7 network.");
}

CLI::App* App::add_group(const std::string& name, const std::string& description) {
  CLI::App* group = root_.add_subcommand(name, description);
  group->require_subcommand(1);
  return group;
}

void App::on(CLI::App* command, Action action) { actions_.emplace_back(command, std::move(action)); }

int App::run(int argc, char** argv) {
  argv_ = argv;
  try {
    root_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return root_.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  try {
    for (auto& [command, action] : actions_) {
      if (command->parsed()) {
        action();
        return kExitOk;
      }
    }
    std::cerr << root_.help();
    return kExitUsage;
  } catch (const Error& e) {
    return report(e);
  } catch (const std::filesystem::filesystem_error& e) {
    // Ordinary mistakes (-o on /proc or on a file, a FIFO where a file belongs) reach here
    // from std::filesystem: one line naming the path and what is wrong, an I/O exit code.
    const std::string path = e.path1().empty() ? std::string() : e.path1().string() + ": ";
    return report(Error(ErrorKind::io, path + e.code().message()));
  } catch (const std::exception& e) {
    fmt::print(stderr, "ckms: internal error: {}\n", oci::printable(e.what()));
    return kExitFailure;
  }
}

int App::report(const Error& e) const {
  if (options_.json) {
    print_json({{"error", e.what()}, {"exit_code", exit_code_for(e.kind())}});
  }
  fmt::print(stderr, "ckms: error: {}\n", oci::printable(e.what()));
  return exit_code_for(e.kind());
}

// ASCII only, so that no control character a registry sent (DEL and C1 included, which JSON
// itself leaves raw) reaches a terminal; bytes that are not UTF-8 become U+FFFD instead of an
// exception that would lose the whole document.
void print_json(const nlohmann::json& document) {
  std::cout << document.dump(2, ' ', true, nlohmann::json::error_handler_t::replace) << std::endl;
}

}  // namespace ckms::cli
