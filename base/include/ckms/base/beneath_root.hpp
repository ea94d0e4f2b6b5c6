#pragma once
// Writing beneath a directory that holds untrusted names (a layer's entries, a source tree):
// every filesystem operation goes through a directory fd that the kernel resolved beneath the
// root (openat2 RESOLVE_BENEATH), never through a path string that was only checked, because a
// check on a string says nothing about symlinks planted on disk.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "ckms/base/io.hpp"

namespace ckms {

// Splits "a/b/c" into {"a/b", "c"} and "c" into {"", "c"}.
std::pair<std::string_view, std::string_view> split_parent(std::string_view relative);

enum class ResolveStrategy {
  automatic,       // openat2 when the kernel has it (5.6+), else component_walk
  openat2,         // follows symlinks only while they stay beneath the root
  component_walk,  // O_NOFOLLOW per component: refuses any symlink on the way
};

// A target directory that entries are written beneath. Holds the root fd, so renaming or
// replacing the root's path while unpacking cannot redirect writes elsewhere.
class BeneathRoot {
 public:
  explicit BeneathRoot(const std::filesystem::path& root, ResolveStrategy strategy = ResolveStrategy::automatic);

  ResolveStrategy strategy() const noexcept { return strategy_; }
  int fd() const noexcept { return root_.get(); }

  // Opens directory `relative` ("" is the root) as an O_PATH fd usable with the *at calls.
  // Missing components are created (mode 0755) when `create_missing`; otherwise a missing
  // directory gives an empty fd. A path that leaves the root, or passes through a
  // non-directory, is refused with an error naming `what`.
  UniqueFd open_directory(std::string_view relative, bool create_missing, std::string_view what);

  // Like open_directory but readable (for listing and fchmod/futimens); the last component
  // is never followed when it is a symlink. When `gone_ok`, a path that no longer exists or
  // is no longer a directory gives an empty fd instead of an error.
  UniqueFd open_directory_readable(std::string_view relative, bool gone_ok, std::string_view what);

 private:
  UniqueFd resolve(std::string_view relative, int flags, std::string_view what, int& error);

  UniqueFd root_;
  ResolveStrategy strategy_;
};

// Removes `name` inside `dirfd` and, if it is a directory, everything beneath it, without
// following symlinks. Directories without write permission are made writable first so an
// unprivileged user can remove what it unpacked. A missing name is not an error.
void remove_tree_at(int dirfd, const std::string& name, std::string_view what);

// Whether the running kernel implements openat2(2).
bool kernel_has_openat2();

}  // namespace ckms
