#pragma once
// The Debian kernel headers installed on this machine (scripts/install-deps.sh): a real,
// large tree (tens of thousands of entries, absolute symlinks into linux-kbuild) to unpack.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ckms::testing {

struct HeadersTree {
  std::string release;                     // e.g. 6.1.0-56-cloud-amd64
  std::vector<std::string> relative_dirs;  // under "/", e.g. usr/src/linux-headers-...
};

// The newest installed flavour directory whose -common directory is installed too.
inline std::optional<HeadersTree> installed_headers() {
  std::optional<HeadersTree> best;
  std::error_code ec;
  for (const auto& item : std::filesystem::directory_iterator("/usr/src", ec)) {
    const std::string name = item.path().filename().string();
    const std::string prefix = "linux-headers-";
    if (!name.starts_with(prefix) || name.ends_with("-common")) continue;
    const std::string release = name.substr(prefix.size());
    // 6.1.0-56-cloud-amd64 -> 6.1.0-56-common
    const std::size_t abi_end = release.find('-', release.find('-') + 1);
    if (abi_end == std::string::npos) continue;
    const std::string common = prefix + release.substr(0, abi_end) + "-common";
    if (!std::filesystem::is_directory("/usr/src/" + common)) continue;
    if (!best || release > best->release) {
      best = HeadersTree{release, {"usr/src/" + name, "usr/src/" + common}};
    }
  }
  return best;
}

}  // namespace ckms::testing
