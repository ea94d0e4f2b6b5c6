#include "ckms/builder/scratch_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "ckms/base/beneath_root.hpp"
#include "ckms/base/error.hpp"

namespace ckms::builder {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "ckms-scratch-";
constexpr std::string_view kPendingPrefix = ".ckms-scratch-new-";
constexpr std::size_t kRandomPart = 6;  // mkdtemp's XXXXXX
// Written inside before the rename: only a directory holding it is ever removed by another
// build, whatever else in $TMPDIR is named alike.
constexpr std::string_view kMarker = ".ckms-scratch";

bool is_scratch_name(const std::string& name) {
  return name.size() == kPrefix.size() + kRandomPart && name.starts_with(kPrefix);
}

bool has_marker(int dirfd) {
  struct stat st {};
  return ::fstatat(dirfd, std::string(kMarker).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

ckms::UniqueFd open_directory(const fs::path& path) {
  return ckms::UniqueFd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

void remove_tree(const fs::path& path) {
  const ckms::UniqueFd parent = open_directory(path.parent_path());
  if (!parent) fail_errno("open " + path.parent_path().string());
  ckms::remove_tree_at(parent.get(), path.filename().string(), path.string());
}

}  // namespace

ScratchDir::ScratchDir(const fs::path& parent) {
  std::string pending = (parent / (std::string(kPendingPrefix) + "XXXXXX")).string();
  if (::mkdtemp(pending.data()) == nullptr) fail_errno("cannot create a work directory in " + parent.string());
  // Removes what was made so far, marker included, and fails with the step's errno.
  const auto give_up = [&](const std::string& what) {
    const int error = errno;
    ::unlink((fs::path(pending) / kMarker).c_str());
    ::rmdir(pending.c_str());
    errno = error;
    fail_errno(what);
  };
  lock_ = open_directory(pending);
  if (!lock_ || ::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) give_up("lock work directory " + pending);
  const ckms::UniqueFd marker(
      ::openat(lock_.get(), std::string(kMarker).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!marker) give_up("mark work directory " + pending);
  path_ = parent / (std::string(kPrefix) + pending.substr(pending.size() - kRandomPart));
  if (::rename(pending.c_str(), path_.c_str()) != 0) give_up("rename work directory to " + path_.string());
}

ScratchDir::~ScratchDir() {
  try {
    remove_tree(path_);
  } catch (const Error&) {
    // Still locked until this process ends; the next build removes it then.
  }
}

std::vector<fs::path> remove_abandoned_scratch(const fs::path& parent) {
  std::vector<fs::path> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const fs::path path = entry.path();
    if (!is_scratch_name(path.filename().string())) continue;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) continue;
    const ckms::UniqueFd lock = open_directory(path);
    if (!lock || !has_marker(lock.get()) || ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) continue;
    try {
      remove_tree(path);
      removed.push_back(path);
    } catch (const Error&) {
      // Left for a later build; this one does not depend on it.
    }
  }
  return removed;
}

}  // namespace ckms::builder
