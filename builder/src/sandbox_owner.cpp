#include "sandbox_owner.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/builder/sandbox_process.hpp"
#include "sandbox_cgroup.hpp"

namespace ckms::builder {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPendingSuffix = ".new";

// The owner file's lock when its owner is gone; nothing while it lives (or the file is gone).
ckms::UniqueFd lock_if_abandoned(const fs::path& file) {
  ckms::UniqueFd fd(::open(file.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return {};
  // Unlinked between our open and our lock: its owner finished and cleaned up.
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || st.st_nlink == 0) return {};
  return fd;
}

enum class Deletion { deleted, absent, failed };

Deletion delete_container(const std::vector<std::string>& runc, const SandboxStateRoot& root, const std::string& id,
                          int log_fd) {
  auto argv = runc;
  argv.insert(argv.end(), {"delete", "--force", id});
  const int code = run_child(argv, log_fd, std::chrono::seconds(30));
  std::error_code ec;
  if (fs::exists(root.runc / id, ec) || ec) return Deletion::failed;
  return code == 0 ? Deletion::deleted : Deletion::absent;
}

// Creates `file` and holds its lock. A reaper (another build's run starting) can open and
// lock the new file between its creation and our flock; it takes it for the file of an
// owner that died before locking it and unlinks it. Our lock is then on an unlinked file,
// which the rename after it could not find (ENOENT): the file is made again. A reaper
// that finds the file already locked leaves it alone, so once our lock is on a linked
// file the file is ours.
ckms::UniqueFd create_locked(const fs::path& file) {
  for (;;) {
    ckms::UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) fail_errno("create sandbox owner file " + file.string());
    if (::flock(fd.get(), LOCK_EX) != 0) fail_errno("lock sandbox owner file " + file.string());
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail_errno("stat sandbox owner file " + file.string());
    if (st.st_nlink > 0) return fd;
  }
}

}  // namespace

SandboxOwner::SandboxOwner(const SandboxStateRoot& root, const std::string& id) : file_(root.owners / id) {
  fs::create_directories(root.owners);
  const fs::path pending = root.owners / fmt::format(".{}{}", id, kPendingSuffix);
  fd_ = create_locked(pending);
  // For people looking at a stuck machine; the lock, not this number, is what counts.
  const std::string pid = fmt::format("{}\n", ::getpid());
  ckms::write_all(fd_.get(), std::as_bytes(std::span(pid)), pending.string());
  if (::rename(pending.c_str(), file_.c_str()) != 0) fail_errno("rename sandbox owner file to " + file_.string());
}

SandboxOwner::~SandboxOwner() {
  // Unlinked while still locked: a reaper that opened it meanwhile sees st_nlink 0.
  ::unlink(file_.c_str());
}

std::vector<std::string> reap_stale_sandboxes(const std::vector<std::string>& runc, const SandboxStateRoot& root,
                                              int log_fd) {
  std::vector<std::string> stopped;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root.owners, ec)) {
    const std::string name = entry.path().filename().string();
    const ckms::UniqueFd lock = lock_if_abandoned(entry.path());
    if (!lock) continue;
    if (name.starts_with('.')) {
      // Its owner died before the container existed.
      if (name.ends_with(kPendingSuffix)) ::unlink(entry.path().c_str());
      continue;
    }
    const Deletion deletion = delete_container(runc, root, name, log_fd);
    if (deletion == Deletion::failed) continue;  // the owner file stays, so the next run tries again
    if (deletion == Deletion::deleted) stopped.push_back(name);
    remove_build_cgroup(name);
    ::unlink(entry.path().c_str());
  }
  return stopped;
}

}  // namespace ckms::builder
