#pragma once
// Unpacked images kept by manifest digest, so a build image is unpacked once per machine and
// shared by every build. Entries appear whole or not at all: they are filled in a staging
// directory beside the entry, marked complete last, then renamed into place; a per-key lock
// file (flock) makes a second process wait for the first instead of filling twice.

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>

#include "ckms/base/digest.hpp"

namespace ckms::oci {

class UnpackCache {
 public:
  using Fill = std::function<void(const std::filesystem::path& staging)>;

  // Creates `root` when missing and closes it to everyone but this user and, when given,
  // `traverse_group` (mode 0710): a user-namespace sandbox must pass through every parent of
  // its root filesystem, and its mapped root gid is the group that lets it and nobody else.
  // A root owned by another user is refused.
  explicit UnpackCache(std::filesystem::path root, std::optional<gid_t> traverse_group = std::nullopt);

  // The unpacked tree for `manifest`, filled by `fill` (which receives an empty directory)
  // when no complete entry exists. A filler that throws or dies leaves only a staging
  // directory, which the next ensure() of that key removes. Concurrent callers for one key,
  // in this or other processes, block until the first finishes and then reuse its entry.
  std::filesystem::path ensure(const Digest& manifest, const Fill& fill);

  // The tree for `manifest` if a complete entry exists.
  std::optional<std::filesystem::path> find(const Digest& manifest) const;

  const std::filesystem::path& root() const noexcept { return root_; }

 private:
  std::filesystem::path entry_dir(const Digest& manifest) const;

  std::filesystem::path root_;
};

}  // namespace ckms::oci
