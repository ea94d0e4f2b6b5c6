// Finding the OCI runtime. runc first: crun 1.x fails to set up cgroups on hybrid
// (v1 + v2) hosts where runc works, so crun is only used when asked for.

#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "ckms/base/error.hpp"
#include "ckms/builder/sandbox_run.hpp"

namespace ckms::builder {

std::optional<std::filesystem::path> find_program(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return std::filesystem::path(name);
    return std::nullopt;
  }
  const char* env = std::getenv("PATH");
  std::string_view path = env ? env : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  while (!path.empty()) {
    const auto colon = path.find(':');
    const auto dir = std::filesystem::path(std::string(path.substr(0, colon)));
    if (!dir.empty() && ::access((dir / name).c_str(), X_OK) == 0) return dir / name;
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

std::filesystem::path detect_runtime(const std::optional<std::string>& override_runtime) {
  const std::string wanted = override_runtime.value_or("runc");
  if (auto found = find_program(wanted)) return *found;
  fail(ErrorKind::not_found, "OCI runtime {} not found in PATH (install runc, or pass a path)", wanted);
}

}  // namespace ckms::builder
