#include "ckms/oci/layer_create.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

namespace ckms::oci {

namespace {

struct Item {
  std::string path;  // relative, without trailing '/'
  struct stat st {};
};

using ArchivePtr = std::unique_ptr<struct archive, decltype(&archive_write_free)>;
using EntryPtr = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

void collect(int dirfd, const std::string& prefix, const std::filesystem::path& source, std::vector<Item>& items) {
  const int listing_fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* dir = listing_fd < 0 ? nullptr : ::fdopendir(listing_fd);
  if (dir == nullptr) {
    if (listing_fd >= 0) ::close(listing_fd);
    fail_errno(fmt::format("cannot list {}", (source / prefix).string()));
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(dir);
  for (const std::string& name : names) {
    Item item;
    item.path = prefix.empty() ? name : prefix + "/" + name;
    if (::fstatat(dirfd, name.c_str(), &item.st, AT_SYMLINK_NOFOLLOW) != 0) {
      fail_errno(fmt::format("cannot stat {}", (source / item.path).string()));
    }
    if (S_ISSOCK(item.st.st_mode)) continue;  // not representable in tar, as GNU tar says
    const bool is_dir = S_ISDIR(item.st.st_mode);
    items.push_back(item);
    if (is_dir) {
      UniqueFd child(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child) fail_errno(fmt::format("cannot open {}", (source / item.path).string()));
      collect(child.get(), item.path, source, items);
    }
  }
}

// Receives the uncompressed tar, hashes it for the diff_id, and hands it to the compressor
// (or straight to the file when there is none).
struct Sink {
  Hasher diff_hasher;
  AtomicFile* file = nullptr;
  struct archive* compressor = nullptr;
  std::exception_ptr error;
};

la_ssize_t tar_write(struct archive*, void* opaque, const void* buffer, size_t length) {
  auto* sink = static_cast<Sink*>(opaque);
  try {
    const std::span bytes(static_cast<const std::byte*>(buffer), length);
    sink->diff_hasher.update(bytes);
    if (sink->compressor == nullptr) {
      sink->file->write(bytes);
    } else if (archive_write_data(sink->compressor, buffer, length) != static_cast<la_ssize_t>(length)) {
      fail(ErrorKind::internal, "compressor refused data: {}", archive_error_string(sink->compressor));
    }
    return static_cast<la_ssize_t>(length);
  } catch (...) {
    sink->error = std::current_exception();
    return -1;
  }
}

la_ssize_t file_write(struct archive*, void* opaque, const void* buffer, size_t length) {
  auto* sink = static_cast<Sink*>(opaque);
  try {
    sink->file->write(std::span(static_cast<const std::byte*>(buffer), length));
    return static_cast<la_ssize_t>(length);
  } catch (...) {
    sink->error = std::current_exception();
    return -1;
  }
}

void check(struct archive* a, int status, Sink& sink, std::string_view what) {
  if (status >= ARCHIVE_WARN) return;
  if (sink.error) std::rethrow_exception(sink.error);
  fail(ErrorKind::io, "{}: {}", what, archive_error_string(a) ? archive_error_string(a) : "failed");
}

// A raw-format libarchive writer is a streaming compressor: one "file" whose bytes are the tar.
ArchivePtr open_compressor(LayerCompression compression, Sink& sink, const std::string& what) {
  ArchivePtr a(archive_write_new(), archive_write_free);
  archive_write_set_format_raw(a.get());
  if (compression == LayerCompression::gzip) {
    archive_write_add_filter_gzip(a.get());
    // Fixed level, and no timestamp or file name in the gzip header, for identical bytes.
    check(a.get(), archive_write_set_filter_option(a.get(), "gzip", "compression-level", "6"), sink, what);
    check(a.get(), archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr), sink, what);
  } else {
    archive_write_add_filter_zstd(a.get());
    check(a.get(), archive_write_set_filter_option(a.get(), "zstd", "compression-level", "3"), sink, what);
  }
  archive_write_set_bytes_per_block(a.get(), 0);
  check(a.get(), archive_write_open(a.get(), &sink, nullptr, file_write, nullptr), sink, what);
  EntryPtr entry(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(entry.get(), "layer.tar");
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  check(a.get(), archive_write_header(a.get(), entry.get()), sink, what);
  return a;
}

void add_xattrs(int fd, archive_entry* entry, const std::string& what) {
  std::vector<char> names(1024);
  ssize_t length = 0;
  while ((length = ::flistxattr(fd, names.data(), names.size())) < 0 && errno == ERANGE) {
    names.resize(names.size() * 4);
  }
  if (length < 0) {
    if (errno == ENOTSUP) return;
    fail_errno("cannot list extended attributes of " + what);
  }
  std::vector<std::string> sorted;
  for (ssize_t i = 0; i < length; i += static_cast<ssize_t>(std::strlen(names.data() + i)) + 1) {
    sorted.emplace_back(names.data() + i);
  }
  std::sort(sorted.begin(), sorted.end());
  for (const std::string& name : sorted) {
    std::vector<char> value(256);
    ssize_t size = 0;
    while ((size = ::fgetxattr(fd, name.c_str(), value.data(), value.size())) < 0 && errno == ERANGE) {
      value.resize(value.size() * 4);
    }
    if (size < 0) fail_errno(fmt::format("cannot read extended attribute {} of {}", name, what));
    archive_entry_xattr_add_entry(entry, name.c_str(), value.data(), static_cast<size_t>(size));
  }
}

// The entry's header: ownership and names from the options, the rest from the file.
EntryPtr entry_for(const Item& item, const CreateOptions& options) {
  EntryPtr entry(archive_entry_new(), archive_entry_free);
  const mode_t type = item.st.st_mode & S_IFMT;
  archive_entry_set_pathname(entry.get(), (type == S_IFDIR ? item.path + "/" : item.path).c_str());
  archive_entry_set_filetype(entry.get(), type);
  archive_entry_set_perm(entry.get(), item.st.st_mode & 07777);
  archive_entry_set_uid(entry.get(), options.uid);
  archive_entry_set_gid(entry.get(), options.gid);
  archive_entry_set_uname(entry.get(), options.uname.c_str());
  archive_entry_set_gname(entry.get(), options.gname.c_str());
  std::int64_t mtime = item.st.st_mtim.tv_sec;
  if (options.source_date_epoch) mtime = std::min(mtime, *options.source_date_epoch);
  archive_entry_set_mtime(entry.get(), mtime, 0);
  if (type == S_IFCHR || type == S_IFBLK) archive_entry_set_rdev(entry.get(), item.st.st_rdev);
  return entry;
}

void set_symlink_target(int root, const Item& item, archive_entry* entry, const std::string& item_what) {
  std::string target(static_cast<std::size_t>(item.st.st_size) + 1, '\0');
  const ssize_t n = ::readlinkat(root, item.path.c_str(), target.data(), target.size());
  if (n < 0 || static_cast<std::size_t>(n) >= target.size()) {
    fail_errno("cannot read symlink " + item_what);
  }
  target.resize(static_cast<std::size_t>(n));
  archive_entry_set_symlink(entry, target.c_str());
}

// A regular file's content to archive; none for a second name of a file already archived,
// which becomes a hard link to its first.
UniqueFd open_content(int root, const Item& item, archive_entry* entry,
                      std::map<std::pair<dev_t, ino_t>, std::string>& first_links, const std::string& item_what) {
  if (item.st.st_nlink > 1) {
    const auto [it, inserted] = first_links.emplace(std::make_pair(item.st.st_dev, item.st.st_ino), item.path);
    if (!inserted) {
      archive_entry_set_hardlink(entry, it->second.c_str());
      return UniqueFd();
    }
  }
  archive_entry_set_size(entry, item.st.st_size);
  UniqueFd content(::openat(root, item.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!content) fail_errno("cannot open " + item_what);
  return content;
}

// Exactly the size the header announced; a file that shrank meanwhile is an error.
void copy_content(int fd, std::int64_t size, struct archive* tar, Sink& sink, std::vector<char>& buffer,
                  const std::string& item_what) {
  std::int64_t remaining = size;
  while (remaining > 0) {
    const ssize_t n =
        ::read(fd, buffer.data(), static_cast<std::size_t>(std::min<std::int64_t>(remaining, buffer.size())));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("cannot read " + item_what);
    if (n == 0) fail(ErrorKind::io, "{}: shrank while being archived", item_what);
    if (archive_write_data(tar, buffer.data(), static_cast<std::size_t>(n)) != n) {
      check(tar, ARCHIVE_FATAL, sink, item_what);
    }
    remaining -= n;
  }
}

}  // namespace

std::string_view layer_media_type(LayerCompression compression) {
  switch (compression) {
    case LayerCompression::none: return "application/vnd.oci.image.layer.v1.tar";
    case LayerCompression::gzip: return "application/vnd.oci.image.layer.v1.tar+gzip";
    case LayerCompression::zstd: return "application/vnd.oci.image.layer.v1.tar+zstd";
  }
  return {};
}

CreatedLayer create_layer(const std::filesystem::path& source, const std::filesystem::path& output,
                          const CreateOptions& options) {
  const std::string what = fmt::format("layer from {}", source.string());
  const UniqueFd root(::open(source.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) fail_errno("cannot open " + source.string());
  std::vector<Item> items;
  collect(root.get(), "", source, items);
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.path < b.path; });

  AtomicFile file(output);
  Sink sink;
  sink.file = &file;
  ArchivePtr compressor(nullptr, archive_write_free);
  if (options.compression != LayerCompression::none) {
    compressor = open_compressor(options.compression, sink, what);
    sink.compressor = compressor.get();
  }
  ArchivePtr tar(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(tar.get());
  check(tar.get(), archive_write_open(tar.get(), &sink, nullptr, tar_write, nullptr), sink, what);

  std::map<std::pair<dev_t, ino_t>, std::string> first_links;
  std::vector<char> buffer(kCopyBufferSize);
  for (const Item& item : items) {
    const std::string item_what = fmt::format("{}: '{}'", what, item.path);
    EntryPtr entry = entry_for(item, options);
    const mode_t type = item.st.st_mode & S_IFMT;
    UniqueFd content;
    if (type == S_IFLNK) {
      set_symlink_target(root.get(), item, entry.get(), item_what);
    } else if (type == S_IFREG) {
      content = open_content(root.get(), item, entry.get(), first_links, item_what);
    }
    if (options.xattrs && type != S_IFLNK) {
      const UniqueFd fd =
          content ? UniqueFd(::dup(content.get()))
                  : UniqueFd(::openat(root.get(), item.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (fd) add_xattrs(fd.get(), entry.get(), item_what);
    }
    check(tar.get(), archive_write_header(tar.get(), entry.get()), sink, item_what);
    if (content) copy_content(content.get(), item.st.st_size, tar.get(), sink, buffer, item_what);
  }
  check(tar.get(), archive_write_close(tar.get()), sink, what);
  if (compressor) check(compressor.get(), archive_write_close(compressor.get()), sink, what);

  const std::uint64_t uncompressed_size = sink.diff_hasher.bytes_seen();
  Digest diff_id = sink.diff_hasher.finish();
  const std::uint64_t size = file.size();
  Digest digest = file.commit(std::nullopt, std::nullopt, 0644);
  return CreatedLayer{std::move(digest), std::move(diff_id), size, uncompressed_size,
                      std::string(layer_media_type(options.compression))};
}

}  // namespace ckms::oci
