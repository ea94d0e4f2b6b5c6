#include "ckms/loader/initramfs.hpp"

#include <array>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ckms/base/error.hpp"
#include "ckms/base/process.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

namespace {

// Where Debian's packages put them, merged /usr or not.
constexpr std::array kUpdateInitramfs = {"usr/sbin/update-initramfs", "sbin/update-initramfs"};
constexpr std::array kDracut = {"usr/bin/dracut", "usr/sbin/dracut", "sbin/dracut"};

// The program's absolute path as seen inside `root`; empty when the tree has none.
template <std::size_t N>
std::string find_in(const fs::path& root, const std::array<const char*, N>& candidates) {
  for (const char* relative : candidates) {
    std::error_code ec;
    if (fs::exists(root / relative, ec)) return std::string("/") + relative;
  }
  return {};
}

// The end of a tool's standard error: its own explanation, without pages of progress.
std::string last_words(const std::string& err) {
  constexpr std::size_t kKeep = 2000;
  std::string tail = err.size() > kKeep ? err.substr(err.size() - kKeep) : err;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  return tail;
}

}  // namespace

std::vector<std::string> initramfs_command(const fs::path& root, std::string_view release) {
  std::vector<std::string> argv;
  if (root != "/") argv = {"chroot", root.string()};
  const std::string release_text(release);
  if (const auto tool = find_in(root, kUpdateInitramfs); !tool.empty()) {
    argv.insert(argv.end(), {tool, "-u", "-k", release_text});
  } else if (const auto dracut = find_in(root, kDracut); !dracut.empty()) {
    argv.insert(argv.end(), {dracut, "--force", "--kver", release_text});
  } else {
    fail(ErrorKind::not_found,
         "{} has neither update-initramfs (initramfs-tools) nor dracut: no initramfs of {} can hold an early module",
         root.string(), release);
  }
  return argv;
}

std::vector<std::string> regenerate_initramfs(const fs::path& root, std::string_view release) {
  const auto argv = initramfs_command(root, release);
  const auto result = ckms::run_process(argv, "/");
  if (result.exit_code != 0) {
    fail(ErrorKind::io, "`{}` failed (exit {}): {}", fmt::join(argv, " "), result.exit_code, last_words(result.err));
  }
  return argv;
}

}  // namespace ckms::loader
