#include "ckms/oci/layer_cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/layer_path.hpp"

namespace ckms::oci {

namespace {

namespace fs = std::filesystem;

// Layout under the root, per key <algorithm>/<hex>:
//   <hex>/rootfs     the tree callers get
//   <hex>/complete   written last, before the rename: its presence is what "complete" means
//   <hex>.lock       flock'd while a process checks or fills the key
//   .<hex>.staging.* staging directories; any found while holding the lock are leftovers
constexpr std::string_view kTree = "rootfs";
constexpr std::string_view kMarker = "complete";

bool is_complete(const fs::path& entry) { return ::access((entry / kMarker).c_str(), F_OK) == 0; }

void remove_path(const fs::path& path, std::string_view what) {
  const UniqueFd parent(::open(path.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!parent) fail_errno(fmt::format("{}: cannot open {}", what, path.parent_path().string()));
  remove_tree_at(parent.get(), path.filename().string(), what);
}

class FileLock {
 public:
  FileLock(const fs::path& file, std::string_view what)
      : fd_(::open(file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) {
    if (!fd_) fail_errno(fmt::format("{}: cannot open lock {}", what, file.string()));
    while (::flock(fd_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) fail_errno(fmt::format("{}: cannot lock {}", what, file.string()));
    }
  }

 private:
  UniqueFd fd_;  // closing it releases the lock
};

// The trees below keep their images' modes so that the sandbox can read them; the root is
// the one gate that keeps other local users out (an image may ship setuid binaries whose bits
// an older ckms kept, or files that are readable and should not be from the host).
void close_root(const fs::path& root, std::optional<gid_t> traverse_group) {
  const std::string what = "unpack cache " + root.string();
  std::error_code ec;
  fs::create_directories(root.parent_path(), ec);
  if (ec) fail(ErrorKind::io, "{}: cannot create {}: {}", what, root.parent_path().string(), ec.message());
  if (::mkdir(root.c_str(), 0700) != 0 && errno != EEXIST) fail_errno(what + ": cannot create it");
  const UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) fail_errno(what + ": cannot open it as a directory");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail_errno(what + ": cannot stat it");
  if (st.st_uid != ::geteuid()) {
    fail(ErrorKind::refused, "{}: owned by uid {}, not by this user (uid {}); remove it or use another --cache-dir",
         what, st.st_uid, ::geteuid());
  }
  if (traverse_group && ::fchown(fd.get(), static_cast<uid_t>(-1), *traverse_group) != 0) {
    fail_errno(fmt::format("{}: cannot give it group {}", what, *traverse_group));
  }
  if (::fchmod(fd.get(), traverse_group ? 0710 : 0700) != 0) fail_errno(what + ": cannot chmod");
}

}  // namespace

UnpackCache::UnpackCache(fs::path root, std::optional<gid_t> traverse_group) : root_(std::move(root)) {
  close_root(root_, traverse_group);
}

fs::path UnpackCache::entry_dir(const Digest& manifest) const {
  return root_ / to_string(manifest.algorithm()) / manifest.hex();
}

std::optional<fs::path> UnpackCache::find(const Digest& manifest) const {
  const fs::path entry = entry_dir(manifest);
  if (!is_complete(entry)) return std::nullopt;
  return entry / kTree;
}

fs::path UnpackCache::ensure(const Digest& manifest, const Fill& fill) {
  if (auto found = find(manifest)) return *found;

  const std::string what = fmt::format("unpack cache entry {}", manifest.str());
  const fs::path entry = entry_dir(manifest);
  const fs::path bucket = entry.parent_path();
  std::error_code ec;
  fs::create_directories(bucket, ec);
  if (ec) fail(ErrorKind::io, "{}: cannot create {}: {}", what, bucket.string(), ec.message());

  const FileLock lock(bucket / (manifest.hex() + ".lock"), what);
  // Whoever held the lock before may have filled the entry while this process waited.
  if (is_complete(entry)) return entry / kTree;

  // Holding the lock means no other process is filling this key: what is left is debris.
  const std::string staging_prefix = "." + manifest.hex() + ".staging.";
  for (const auto& item : fs::directory_iterator(bucket)) {
    if (item.path().filename().string().starts_with(staging_prefix)) remove_path(item.path(), what);
  }
  if (fs::exists(fs::symlink_status(entry))) remove_path(entry, what);

  std::string pattern = (bucket / (staging_prefix + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) fail_errno(what + ": cannot create a staging directory");
  const fs::path staging = pattern;
  ::chmod(staging.c_str(), 0755);  // mkdtemp's 0700 would hide the tree from the sandbox; the root is the gate
  const fs::path tree = staging / kTree;
  if (::mkdir(tree.c_str(), 0755) != 0) fail_errno(what + ": cannot create " + tree.string());

  try {
    fill(tree);
  } catch (...) {
    remove_path(staging, what);  // this process still holds the lock: nobody else uses it
    throw;
  }

  // A staging directory that the filler left half-written is removed by the next ensure();
  // the marker goes in only once the tree is complete, and the rename publishes both at once.
  AtomicFile marker(staging / kMarker);
  marker.write(manifest.str() + "\n");
  marker.commit();
  if (::rename(staging.c_str(), entry.c_str()) != 0) {
    fail_errno(fmt::format("{}: cannot move {} into place", what, staging.string()));
  }
  fsync_directory(bucket);
  return entry / kTree;
}

}  // namespace ckms::oci
