#include "ckms/base/beneath_root.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "ckms/base/error.hpp"

namespace ckms {

namespace {

long sys_openat2(int dirfd, const char* path, const open_how& how) {
  return ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

[[noreturn]] void refuse_resolution(std::string_view what, std::string_view relative, int error) {
  switch (error) {
    case EXDEV: fail(ErrorKind::refused, "{}: path '{}' leads outside the target through a symlink", what, relative);
    case ELOOP: fail(ErrorKind::refused, "{}: path '{}' passes through a symlink that is not followed", what, relative);
    case ENOTDIR:
      fail(ErrorKind::refused, "{}: path '{}' passes through something that is not a directory", what, relative);
    default: fail(ErrorKind::io, "{}: cannot open directory '{}': {}", what, relative, std::strerror(error));
  }
}

}  // namespace

bool kernel_has_openat2() {
  static const bool available = [] {
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    const long fd = sys_openat2(AT_FDCWD, "/", how);
    if (fd >= 0) {
      ::close(static_cast<int>(fd));
      return true;
    }
    return errno != ENOSYS;
  }();
  return available;
}

std::pair<std::string_view, std::string_view> split_parent(std::string_view relative) {
  const std::size_t slash = relative.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view{}, relative};
  return {relative.substr(0, slash), relative.substr(slash + 1)};
}

BeneathRoot::BeneathRoot(const std::filesystem::path& root, ResolveStrategy strategy)
    : root_(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)), strategy_(strategy) {
  if (!root_) fail_errno("cannot open unpack target " + root.string());
  if (strategy_ == ResolveStrategy::automatic) {
    strategy_ = kernel_has_openat2() ? ResolveStrategy::openat2 : ResolveStrategy::component_walk;
  }
}

UniqueFd BeneathRoot::resolve(std::string_view relative, int flags, std::string_view what, int& error) {
  error = 0;
  const std::string path = relative.empty() ? std::string(".") : std::string(relative);
  if (strategy_ == ResolveStrategy::openat2) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags | O_DIRECTORY | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (;;) {
      const long fd = sys_openat2(root_.get(), path.c_str(), how);
      if (fd >= 0) return UniqueFd(static_cast<int>(fd));
      if (errno == EAGAIN || errno == EINTR) continue;
      error = errno;
      return {};
    }
  }
  // Without openat2 every component is opened with O_NOFOLLOW, so a symlink anywhere on the
  // path stops the walk: stricter than openat2, never weaker.
  UniqueFd current(::openat(root_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!current) fail_errno(fmt::format("{}: cannot reopen the unpack target", what));
  std::string_view rest = relative;
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string component(rest.substr(0, slash));
    const bool last = slash == std::string_view::npos;
    const int component_flags = last ? flags : O_PATH;
    UniqueFd next(::openat(current.get(), component.c_str(), component_flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) {
      error = errno;
      if (error == ENOTDIR) {
        struct stat st {};
        if (::fstatat(current.get(), component.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
          error = ELOOP;
        }
      }
      return {};
    }
    current = std::move(next);
    if (last) break;
    rest.remove_prefix(slash + 1);
  }
  if (relative.empty() && flags != O_PATH) {
    return UniqueFd(::openat(root_.get(), ".", flags | O_DIRECTORY | O_CLOEXEC));
  }
  return current;
}

UniqueFd BeneathRoot::open_directory(std::string_view relative, bool create_missing, std::string_view what) {
  int error = 0;
  UniqueFd fd = resolve(relative, O_PATH, what, error);
  if (fd) return fd;
  if (error != ENOENT) refuse_resolution(what, relative, error);
  if (!create_missing) return {};

  // Rare path (layers usually list parents first): create each missing prefix, resolving
  // every prefix again beneath the root so a symlink cannot redirect the mkdir.
  std::size_t end = 0;
  for (;;) {
    end = relative.find('/', end + 1);
    const std::string_view prefix = relative.substr(0, end);
    UniqueFd existing = resolve(prefix, O_PATH, what, error);
    if (!existing) {
      if (error != ENOENT) refuse_resolution(what, prefix, error);
      const auto [parent, base] = split_parent(prefix);
      UniqueFd parent_fd = resolve(parent, O_PATH, what, error);
      if (!parent_fd) refuse_resolution(what, parent, error);
      const std::string name(base);
      if (::mkdirat(parent_fd.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
        fail_errno(fmt::format("{}: cannot create directory '{}'", what, prefix));
      }
    }
    if (end == std::string_view::npos) break;
  }
  fd = resolve(relative, O_PATH, what, error);
  if (!fd) refuse_resolution(what, relative, error);
  return fd;
}

UniqueFd BeneathRoot::open_directory_readable(std::string_view relative, bool gone_ok, std::string_view what) {
  int error = 0;
  UniqueFd fd = resolve(relative, O_RDONLY | O_NOFOLLOW, what, error);
  if (!fd && gone_ok && (error == ENOENT || error == ENOTDIR || error == ELOOP)) return fd;
  if (!fd) refuse_resolution(what, relative, error);
  return fd;
}

namespace {

void remove_children(int dirfd, std::string_view what) {
  const int listing_fd = ::dup(dirfd);
  if (listing_fd < 0) fail_errno(fmt::format("{}: cannot duplicate a directory fd", what));
  DIR* dir = ::fdopendir(listing_fd);
  if (dir == nullptr) {
    ::close(listing_fd);
    fail_errno(fmt::format("{}: cannot list a directory to remove", what));
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(dir);
  for (const std::string& name : names) remove_tree_at(dirfd, name, what);
}

}  // namespace

void remove_tree_at(int dirfd, const std::string& name, std::string_view what) {
  if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return;
  if (errno != EISDIR && errno != EPERM) {
    fail_errno(fmt::format("{}: cannot remove '{}'", what, name));
  }
  UniqueFd child(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!child && errno == EACCES) {
    ::fchmodat(dirfd, name.c_str(), 0700, 0);
    child = UniqueFd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!child) fail_errno(fmt::format("{}: cannot open '{}' to remove it", what, name));
  struct stat st {};
  if (::fstat(child.get(), &st) == 0 && (st.st_mode & S_IRWXU) != S_IRWXU) {
    ::fchmod(child.get(), st.st_mode | S_IRWXU);
  }
  remove_children(child.get(), what);
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    fail_errno(fmt::format("{}: cannot remove directory '{}'", what, name));
  }
}

}  // namespace ckms
