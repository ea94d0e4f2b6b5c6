#include "ckms/builder/tree_files.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ckms/base/beneath_root.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

namespace ckms::builder {
namespace {

// Reads an fd that must be a regular file, refusing anything larger than `limit` before
// reading and while reading (the file may grow under a running build).
std::string read_regular(int fd, std::size_t limit, std::string_view what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_errno(fmt::format("{}: stat", what));
  if (!S_ISREG(st.st_mode)) fail(ErrorKind::refused, "{}: not a regular file", what);
  if (static_cast<std::uint64_t>(st.st_size) > limit) {
    fail(ErrorKind::refused, "{}: {} bytes, more than the {} allowed", what, st.st_size, limit);
  }
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno(fmt::format("{}: read", what));
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > limit) fail(ErrorKind::refused, "{}: more than the {} bytes allowed", what, limit);
  }
  return out;
}

std::string relative_of(std::string_view path) {
  while (path.starts_with('/')) path.remove_prefix(1);
  return std::string(path);
}

}  // namespace

std::optional<std::string> read_file_in_root(const std::filesystem::path& root, std::string_view path,
                                             std::size_t limit, std::string_view what) {
  const std::string relative = relative_of(path);
  if (relative.empty()) fail(ErrorKind::usage, "{}: no file named", what);
  const ckms::UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) fail_errno(fmt::format("{}: open {}", what, root.string()));

  ckms::UniqueFd fd;
  if (ckms::kernel_has_openat2()) {
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    const long result = ::syscall(SYS_openat2, root_fd.get(), relative.c_str(), &how, sizeof how);
    if (result < 0) {
      if (errno == ENOENT) return std::nullopt;
      fail(ErrorKind::refused, "{}: cannot open {} inside {}: {}", what, path, root.string(), std::strerror(errno));
    }
    fd = ckms::UniqueFd(static_cast<int>(result));
  } else {
    ckms::BeneathRoot beneath(root, ckms::ResolveStrategy::component_walk);
    const auto [parent, name] = ckms::split_parent(relative);
    const ckms::UniqueFd dir = beneath.open_directory(parent, false, what);
    if (!dir) return std::nullopt;
    fd = ckms::UniqueFd(::openat(dir.get(), std::string(name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) {
      if (errno == ENOENT) return std::nullopt;
      fail(ErrorKind::refused, "{}: cannot open {} inside {}: {}", what, path, root.string(), std::strerror(errno));
    }
  }
  return read_regular(fd.get(), limit, what);
}

std::optional<std::string> read_plain_file(const std::filesystem::path& dir, std::string_view name, std::size_t limit,
                                           std::string_view what) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos) {
    fail(ErrorKind::usage, "{}: '{}' is not a plain file name", what, name);
  }
  const ckms::UniqueFd dir_fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) fail_errno(fmt::format("{}: open {}", what, dir.string()));
  // O_NONBLOCK: opening a FIFO planted under the expected name must not hang the host.
  const ckms::UniqueFd fd(
      ::openat(dir_fd.get(), std::string(name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == ELOOP) fail(ErrorKind::refused, "{}: is a symlink, which is never followed", what);
    fail(ErrorKind::refused, "{}: cannot open: {}", what, std::strerror(errno));
  }
  return read_regular(fd.get(), limit, what);
}

}  // namespace ckms::builder
