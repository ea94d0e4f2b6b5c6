#include "ckms/oci/layer_unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "ckms/base/error.hpp"
#include "ckms/oci/layer_rootless.hpp"
#include "ckms/oci/layer_source.hpp"
#include "ckms/oci/layer_whiteout.hpp"

namespace ckms::oci {

namespace {

// libarchive fails some malformed headers without a message; fmt refuses a null string.
const char* archive_message(archive* a) {
  const char* message = archive_error_string(a);
  return message != nullptr ? message : "malformed archive";
}

struct DirectoryMetadata {
  mode_t mode = 0755;
  uid_t uid = 0;
  gid_t gid = 0;
  timespec mtime{};
};

class Unpacker {
 public:
  Unpacker(const std::filesystem::path& target, const UnpackOptions& options)
      : options_(options), root_(target, options.resolve), privileges_(Privileges::of_current_process()) {}

  UnpackResult run(Reader& layer);

 private:
  void apply_entry(archive* a, archive_entry* entry);
  int parent_fd(std::string_view parent, std::string_view what);
  // Only marks the cache stale: the fd may still be in use by the entry being applied.
  void forget_parents() { cached_parent_valid_ = false; }
  void remove_existing(int dirfd, const std::string& name, std::string_view what);
  void write_regular(archive* a, archive_entry* entry, int dirfd, const std::string& name, std::string_view what);
  void make_directory(archive_entry* entry, const std::string& relative, int dirfd, const std::string& name,
                      std::string_view what);
  void make_hardlink(archive_entry* entry, int dirfd, const std::string& name, std::string_view what);
  void make_symlink(archive_entry* entry, int dirfd, const std::string& name, std::string_view what);
  void make_node(archive_entry* entry, int dirfd, const std::string& name, std::string_view what);
  // Returns whether the recorded owner is now on the file.
  bool apply_owner(int fd, int dirfd, const char* name, archive_entry* entry, std::string_view what);
  void apply_xattrs(int fd, archive_entry* entry, std::string_view what);
  void finish_directories();

  const UnpackOptions& options_;
  LayerSource* source_ = nullptr;
  BeneathRoot root_;
  Privileges privileges_;
  LayerAdditions additions_;
  UnpackNotes notes_;
  std::unordered_map<std::string, DirectoryMetadata> directories_;
  std::string cached_parent_;
  UniqueFd cached_parent_fd_;
  bool cached_parent_valid_ = false;
  std::uint64_t entries_ = 0;
  std::uint64_t file_bytes_ = 0;
  std::uint64_t temp_counter_ = 0;
};

std::string entry_name(archive_entry* entry) {
  if (const char* name = archive_entry_pathname(entry)) return name;
  if (const char* name = archive_entry_pathname_utf8(entry)) return name;
  return {};
}

timespec entry_mtime(archive_entry* entry) {
  timespec t{};
  if (archive_entry_mtime_is_set(entry)) {
    t.tv_sec = archive_entry_mtime(entry);
    t.tv_nsec = archive_entry_mtime_nsec(entry);
  }
  return t;
}

UnpackResult Unpacker::run(Reader& layer) {
  LayerSource source(layer, options_.layer_name);
  source_ = &source;
  archive* a = source.handle();
  for (;;) {
    archive_entry* entry = nullptr;
    const int status = archive_read_next_header(a, &entry);
    if (status == ARCHIVE_EOF) break;
    if (status < ARCHIVE_WARN) {
      source.rethrow_reader_error();
      fail(ErrorKind::integrity, "{}: not a readable tar stream after entry {}: {}", options_.layer_name, entries_,
           archive_message(a));
    }
    apply_entry(a, entry);
  }
  source.drain();
  finish_directories();
  return UnpackResult{entries_, file_bytes_, notes_.finish()};
}

void Unpacker::apply_entry(archive* a, archive_entry* entry) {
  const std::string raw_name = entry_name(entry);
  const std::string what = fmt::format("{}: entry '{}'", options_.layer_name, raw_name);
  if (++entries_ > options_.limits.max_entries) {
    fail(ErrorKind::refused, "{}: more than the {} entries allowed", what, options_.limits.max_entries);
  }
  const std::string relative = normalize_entry_name(raw_name, options_.limits.max_path_length, what);
  if (relative.empty()) return;  // the root itself: its owner and mode are the caller's
  const auto [parent, base] = split_parent(relative);
  const std::string name(base);

  const Whiteout whiteout = classify_whiteout(name, what);
  if (whiteout.kind == WhiteoutKind::opaque) {
    forget_parents();
    apply_opaque(root_, parent, additions_, what);
    return;
  }
  if (whiteout.kind == WhiteoutKind::unsupported) {
    notes_.add(fmt::format("{}: aufs-internal whiteout skipped", what));
    return;
  }
  if (whiteout.kind == WhiteoutKind::remove) {
    apply_whiteout(parent_fd(parent, what), parent, whiteout.target, additions_, what);
    forget_parents();
    return;
  }

  if (archive_entry_size_is_set(entry) && archive_entry_filetype(entry) == AE_IFREG &&
      archive_entry_hardlink(entry) == nullptr) {
    const auto size = static_cast<std::uint64_t>(std::max<la_int64_t>(archive_entry_size(entry), 0));
    if (size > options_.limits.max_file_bytes) {
      fail(ErrorKind::refused, "{}: declares {} bytes, more than the {} allowed per file", what, size,
           options_.limits.max_file_bytes);
    }
    if (file_bytes_ + size > options_.limits.max_total_bytes) {
      fail(ErrorKind::refused, "{}: brings the layer to {} bytes, more than the {} allowed", what, file_bytes_ + size,
           options_.limits.max_total_bytes);
    }
    file_bytes_ += size;
  }

  const int dirfd = parent_fd(parent, what);
  // Parents created implicitly belong to this layer too, so an opaque marker keeps them.
  for (std::size_t slash = relative.find('/'); slash != std::string::npos; slash = relative.find('/', slash + 1)) {
    additions_.add(std::string_view(relative).substr(0, slash));
  }
  additions_.add(relative);

  if (archive_entry_hardlink(entry) != nullptr) {
    make_hardlink(entry, dirfd, name, what);
    return;
  }
  switch (archive_entry_filetype(entry)) {
    case AE_IFREG: write_regular(a, entry, dirfd, name, what); return;
    case AE_IFDIR: make_directory(entry, relative, dirfd, name, what); return;
    case AE_IFLNK: make_symlink(entry, dirfd, name, what); return;
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: make_node(entry, dirfd, name, what); return;
    default: notes_.add(fmt::format("{}: unsupported file type skipped", what));
  }
}

int Unpacker::parent_fd(std::string_view parent, std::string_view what) {
  // Entries come grouped by directory, so one cached fd saves most resolutions.
  if (!cached_parent_valid_ || parent != cached_parent_) {
    cached_parent_fd_ = root_.open_directory(parent, true, what);
    cached_parent_.assign(parent);
    cached_parent_valid_ = true;
  }
  return cached_parent_fd_.get();
}

void Unpacker::remove_existing(int dirfd, const std::string& name, std::string_view what) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  // Removing a directory or a symlink may change what a cached parent path means.
  if (!S_ISREG(st.st_mode)) forget_parents();
  remove_tree_at(dirfd, name, what);
}

bool Unpacker::apply_owner(int fd, int dirfd, const char* name, archive_entry* entry, std::string_view what) {
  const auto uid = static_cast<uid_t>(archive_entry_uid(entry));
  const auto gid = static_cast<gid_t>(archive_entry_gid(entry));
  if (!privileges_.chown) {
    ++notes_.ownership_skipped;
    return uid == ::geteuid() && gid == ::getegid();
  }
  const int status = fd >= 0 ? ::fchown(fd, uid, gid) : ::fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
  if (status == 0) return true;
  // In a user namespace ids outside the mapping cannot be given (EINVAL); that is a skip.
  if (errno == EPERM || errno == EINVAL) {
    ++notes_.ownership_skipped;
    return false;
  }
  fail_errno(fmt::format("{}: cannot set owner {}:{}", what, uid, gid));
}

void Unpacker::apply_xattrs(int fd, archive_entry* entry, std::string_view what) {
  if (!options_.xattrs || archive_entry_xattr_reset(entry) == 0) return;
  const char* key = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(entry, &key, &value, &size) == ARCHIVE_OK) {
    if (!options_.privileged_bits && std::string_view(key) == kCapabilityXattr) {
      ++notes_.privileges_dropped;
      continue;
    }
    if (::fsetxattr(fd, key, value, size, 0) == 0) continue;
    if (errno == EPERM || errno == ENOTSUP || errno == EACCES) {
      notes_.add(fmt::format("{}: extended attribute {} not applied: {}", what, key, std::strerror(errno)));
      continue;
    }
    fail_errno(fmt::format("{}: cannot set extended attribute {}", what, key));
  }
}

void Unpacker::write_regular(archive* a, archive_entry* entry, int dirfd, const std::string& name,
                             std::string_view what) {
  // Content goes to a temporary name first, so a failure midway never leaves a truncated file
  // under the entry's name, and the rename replaces a symlink instead of writing through it.
  std::string temp;
  UniqueFd fd;
  while (!fd) {
    temp = fmt::format(".ckms-unpack.{}.{}", ::getpid(), temp_counter_++);
    fd = UniqueFd(::openat(dirfd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd && errno != EEXIST) fail_errno(fmt::format("{}: cannot create a file", what));
  }
  struct TempGuard {
    int dirfd;
    const std::string& name;
    bool armed = true;
    ~TempGuard() {
      if (armed) ::unlinkat(dirfd, name.c_str(), 0);
    }
  } guard{dirfd, temp};

  const auto size = static_cast<std::int64_t>(archive_entry_size(entry));
  std::int64_t end = 0;
  for (;;) {
    const void* block = nullptr;
    size_t length = 0;
    la_int64_t offset = 0;
    const int status = archive_read_data_block(a, &block, &length, &offset);
    if (status == ARCHIVE_EOF) break;
    if (status < ARCHIVE_WARN) {
      source_->rethrow_reader_error();
      fail(ErrorKind::integrity, "{}: cannot read its content: {}", what, archive_message(a));
    }
    if (offset + static_cast<std::int64_t>(length) > size) {
      fail(ErrorKind::refused, "{}: content runs past its declared size {}", what, size);
    }
    const auto* bytes = static_cast<const char*>(block);
    while (length > 0) {
      const ssize_t n = ::pwrite(fd.get(), bytes, length, offset);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail_errno(fmt::format("{}: cannot write", what));
      }
      bytes += n;
      length -= static_cast<size_t>(n);
      offset += n;
    }
    end = std::max<std::int64_t>(end, offset);
  }
  // Sparse entries end in a hole that no data block covers.
  if (end < size && ::ftruncate(fd.get(), size) != 0) {
    fail_errno(fmt::format("{}: cannot extend to its size", what));
  }

  const bool owned = apply_owner(fd.get(), dirfd, nullptr, entry, what);
  const mode_t recorded = archive_entry_perm(entry);
  const mode_t mode = permitted_mode(recorded, owned, options_.privileged_bits);
  if (mode != (recorded & 07777)) {
    if (owned) {
      ++notes_.privileges_dropped;
    } else {
      notes_.add(fmt::format("{}: setuid/setgid bits dropped", what));
    }
  }
  if (::fchmod(fd.get(), mode) != 0) fail_errno(fmt::format("{}: cannot chmod", what));
  apply_xattrs(fd.get(), entry, what);
  const timespec mtime = entry_mtime(entry);
  const timespec times[2] = {mtime, mtime};
  if (::futimens(fd.get(), times) != 0) fail_errno(fmt::format("{}: cannot set times", what));

  if (::renameat(dirfd, temp.c_str(), dirfd, name.c_str()) != 0) {
    if (errno != EISDIR && errno != ENOTEMPTY && errno != EEXIST) {
      fail_errno(fmt::format("{}: cannot move into place", what));
    }
    remove_existing(dirfd, name, what);
    if (::renameat(dirfd, temp.c_str(), dirfd, name.c_str()) != 0) {
      fail_errno(fmt::format("{}: cannot move into place", what));
    }
  }
  guard.armed = false;
}

void Unpacker::make_directory(archive_entry* entry, const std::string& relative, int dirfd, const std::string& name,
                              std::string_view what) {
  // Created owner-writable; the recorded mode and mtime are applied after the last entry,
  // when nothing more will be written into it.
  if (::mkdirat(dirfd, name.c_str(), 0700) != 0) {
    if (errno != EEXIST) fail_errno(fmt::format("{}: cannot create directory", what));
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) {
      remove_existing(dirfd, name, what);
      if (::mkdirat(dirfd, name.c_str(), 0700) != 0) {
        fail_errno(fmt::format("{}: cannot create directory", what));
      }
    }
  }
  DirectoryMetadata& metadata = directories_[relative];
  metadata.mode = archive_entry_perm(entry);
  metadata.uid = static_cast<uid_t>(archive_entry_uid(entry));
  metadata.gid = static_cast<gid_t>(archive_entry_gid(entry));
  metadata.mtime = entry_mtime(entry);
  if (options_.xattrs && archive_entry_xattr_count(entry) > 0) {
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) fail_errno(fmt::format("{}: cannot open directory", what));
    apply_xattrs(fd.get(), entry, what);
  }
}

void Unpacker::make_hardlink(archive_entry* entry, int dirfd, const std::string& name, std::string_view what) {
  const std::string target = normalize_entry_name(archive_entry_hardlink(entry), options_.limits.max_path_length,
                                                  fmt::format("{} (hard link target)", what));
  const auto [target_parent, target_base] = split_parent(target);
  if (target.empty()) fail(ErrorKind::refused, "{}: hard link to the target root", what);
  const UniqueFd target_dir = root_.open_directory(target_parent, false, what);
  struct stat st {};
  const std::string target_name(target_base);
  if (!target_dir || ::fstatat(target_dir.get(), target_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    fail(ErrorKind::refused, "{}: hard link target '{}' is not in the target", what, target);
  }
  // A link to a symlink is a second copy of a pointer that may lead anywhere; real layers do
  // not need it, and link-following extractors have been exploited through exactly this.
  if (S_ISLNK(st.st_mode)) {
    fail(ErrorKind::refused, "{}: hard link target '{}' is a symlink", what, target);
  }
  if (S_ISDIR(st.st_mode)) {
    fail(ErrorKind::refused, "{}: hard link target '{}' is a directory", what, target);
  }
  struct stat existing {};
  if (::fstatat(dirfd, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
    if (existing.st_dev == st.st_dev && existing.st_ino == st.st_ino) return;
    remove_existing(dirfd, name, what);
  }
  if (::linkat(target_dir.get(), target_name.c_str(), dirfd, name.c_str(), 0) != 0) {
    fail_errno(fmt::format("{}: cannot link to '{}'", what, target));
  }
}

void Unpacker::make_symlink(archive_entry* entry, int dirfd, const std::string& name, std::string_view what) {
  // The target is data: it is stored as written and never resolved while unpacking.
  const char* target = archive_entry_symlink(entry);
  if (target == nullptr) target = archive_entry_symlink_utf8(entry);
  if (target == nullptr || *target == '\0') {
    fail(ErrorKind::refused, "{}: symlink without a target", what);
  }
  if (::symlinkat(target, dirfd, name.c_str()) != 0) {
    if (errno != EEXIST) fail_errno(fmt::format("{}: cannot create symlink", what));
    remove_existing(dirfd, name, what);
    if (::symlinkat(target, dirfd, name.c_str()) != 0) {
      fail_errno(fmt::format("{}: cannot create symlink", what));
    }
  }
  apply_owner(-1, dirfd, name.c_str(), entry, what);
  const timespec mtime = entry_mtime(entry);
  const timespec times[2] = {mtime, mtime};
  if (::utimensat(dirfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    fail_errno(fmt::format("{}: cannot set symlink times", what));
  }
}

void Unpacker::make_node(archive_entry* entry, int dirfd, const std::string& name, std::string_view what) {
  const mode_t type = archive_entry_filetype(entry);
  if (type != AE_IFIFO && !privileges_.mknod) {
    notes_.add(fmt::format("{}: device node skipped (not root in the initial user namespace)", what));
    return;
  }
  remove_existing(dirfd, name, what);
  const dev_t device = type == AE_IFIFO ? 0 : archive_entry_rdev(entry);
  if (::mknodat(dirfd, name.c_str(), type | 0600, device) != 0) {
    if (errno == EPERM) {
      notes_.add(fmt::format("{}: device node skipped: {}", what, std::strerror(errno)));
      return;
    }
    fail_errno(fmt::format("{}: cannot create node", what));
  }
  const bool owned = apply_owner(-1, dirfd, name.c_str(), entry, what);
  if (::fchmodat(dirfd, name.c_str(), permitted_mode(archive_entry_perm(entry), owned, options_.privileged_bits), 0) !=
      0) {
    fail_errno(fmt::format("{}: cannot chmod", what));
  }
  const timespec mtime = entry_mtime(entry);
  const timespec times[2] = {mtime, mtime};
  if (::utimensat(dirfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    fail_errno(fmt::format("{}: cannot set times", what));
  }
}

void Unpacker::finish_directories() {
  forget_parents();
  std::vector<const std::pair<const std::string, DirectoryMetadata>*> order;
  order.reserve(directories_.size());
  for (const auto& item : directories_) order.push_back(&item);
  // Deepest first: a parent made read-only or unsearchable must not block its children.
  std::sort(order.begin(), order.end(), [](auto* x, auto* y) { return x->first > y->first; });
  for (const auto* item : order) {
    const std::string what = fmt::format("{}: directory '{}'", options_.layer_name, item->first);
    const UniqueFd fd = root_.open_directory_readable(item->first, true, what);
    if (!fd) continue;  // replaced or removed by a later entry
    const DirectoryMetadata& metadata = item->second;
    bool owned = false;
    if (privileges_.chown) {
      owned = ::fchown(fd.get(), metadata.uid, metadata.gid) == 0;
      if (!owned && errno != EPERM && errno != EINVAL) fail_errno(what + ": cannot set owner");
    }
    if (!owned) ++notes_.ownership_skipped;
    // A setgid directory only makes new files inherit its group, which is not a privilege.
    if (::fchmod(fd.get(), permitted_mode(metadata.mode, owned)) != 0) {
      fail_errno(what + ": cannot chmod");
    }
    const timespec times[2] = {metadata.mtime, metadata.mtime};
    if (::futimens(fd.get(), times) != 0) fail_errno(what + ": cannot set times");
  }
}

}  // namespace

UnpackResult apply_layer(Reader& layer, const std::filesystem::path& target, const UnpackOptions& options) {
  Unpacker unpacker(target, options);
  return unpacker.run(layer);
}

}  // namespace ckms::oci
