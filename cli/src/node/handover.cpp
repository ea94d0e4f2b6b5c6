#include "handover.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "app.hpp"
#include "commands/load.hpp"

namespace ckms::cli {
namespace fs = std::filesystem;

namespace {

// Installed, ckms-full lives in <prefix>/libexec/ckms/ beside <prefix>/bin/ckms; in a build
// tree the two binaries sit side by side.
fs::path full_tool(std::string_view why) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) {
    fmt::print(stderr, "ckms: error: cannot find ckms-full: /proc/self/exe: {}\n", ec.message());
    std::exit(kExitFailure);
  }
  const fs::path installed = self.parent_path() / ".." / "libexec" / "ckms" / "ckms-full";
  const fs::path beside = self.parent_path() / "ckms-full";
  if (::access(installed.c_str(), X_OK) == 0) return installed;
  if (::access(beside.c_str(), X_OK) == 0) return beside;
  fmt::print(stderr, "ckms: error: {} needs ckms-full, which is neither {} nor {}\n",
             why.empty() ? "this command" : why, installed.lexically_normal().string(), beside.string());
  std::exit(kExitFailure);
}

}  // namespace

void hand_over(char** argv, std::string_view why) {
  const fs::path tool = full_tool(why);
  std::fflush(stdout);
  ::execv(tool.c_str(), argv);
  fmt::print(stderr, "ckms: error: cannot run {}: {}\n", tool.string(), std::strerror(errno));
  std::exit(kExitFailure);
}

// The node binary loads from its cache alone; anything more is ckms-full's.
void load_beyond_cache(App& app, const LoadArgs&, loader::Kernel&) { hand_over(app.argv()); }

// Nothing is inserted or written before dependencies are planned, and the state lock is
// close-on-exec, so ckms-full starts the load afresh.
loader::InTreePlanner in_tree_planner(App& app) {
  return [&app](const fs::path& directory, const std::vector<loader::Dependency>& absent,
                loader::Kernel&) -> std::vector<loader::InTreeModule> {
    std::string names;
    for (const auto& dependency : absent)
      names += fmt::format("{}{} (for {})", names.empty() ? "" : ", ", dependency.name, dependency.needed_by);
    hand_over(app.argv(),
              fmt::format("inserting {} from {}, which the kernel does not have loaded,", names, directory.string()));
  };
}

}  // namespace ckms::cli
