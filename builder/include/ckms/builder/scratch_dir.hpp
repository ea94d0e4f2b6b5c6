#pragma once
// Scratch space of one `ckms build` (source copies, sandbox bundles, build trees):
// <parent>/ckms-scratch-XXXXXX, removed when the build ends. A build killed with kill -9 (the
// OOM killer, an evicted pod) cannot remove it, so each build holds its directory flock'd
// while it lives, and the next build of the same user removes those whose lock it can take:
// the kernel drops a lock however its holder dies. The directory is made, locked and marked
// (a .ckms-scratch file inside) under a hidden name and then renamed, so that no build ever
// sees another's directory unlocked, and nothing unmarked is ever removed.

#include <filesystem>
#include <vector>

#include "ckms/base/io.hpp"

namespace ckms::builder {

class ScratchDir {
 public:
  // `parent` is usually $TMPDIR (else /tmp).
  explicit ScratchDir(const std::filesystem::path& parent);
  ~ScratchDir();  // removes the tree, also what a build left unwritable
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  ckms::UniqueFd lock_;
};

// Removes the scratch directories under `parent` that belong to this user and whose build
// is gone; returns their paths. Others' directories, those of live builds, and anything
// not named and marked as a scratch directory are left.
std::vector<std::filesystem::path> remove_abandoned_scratch(const std::filesystem::path& parent);

}  // namespace ckms::builder
