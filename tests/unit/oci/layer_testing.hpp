#pragma once
// Tar streams built at test time with libarchive, including the malformed and hostile ones a
// well-behaved tar writer would never produce (names are written exactly as given).

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace ckms::testing {

enum class TarCompression { none, gzip, zstd };

class TarBuilder {
 public:
  explicit TarBuilder(TarCompression compression = TarCompression::none)
      : archive_(archive_write_new(), archive_write_free) {
    archive_write_set_format_pax_restricted(archive_.get());
    if (compression == TarCompression::gzip) archive_write_add_filter_gzip(archive_.get());
    if (compression == TarCompression::zstd) archive_write_add_filter_zstd(archive_.get());
    archive_write_set_bytes_per_block(archive_.get(), 0);
    check(archive_write_open(archive_.get(), &out_, nullptr, &TarBuilder::append, nullptr));
  }

  TarBuilder& file(const std::string& name, const std::string& content, mode_t mode = 0644,
                   std::int64_t mtime = 1'600'000'000) {
    auto e = entry(name, AE_IFREG, mode, mtime);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
    check(archive_write_header(archive_.get(), e.get()));
    if (!content.empty()) archive_write_data(archive_.get(), content.data(), content.size());
    return *this;
  }
  TarBuilder& dir(const std::string& name, mode_t mode = 0755, std::int64_t mtime = 1'600'000'000) {
    auto e = entry(name, AE_IFDIR, mode, mtime);
    check(archive_write_header(archive_.get(), e.get()));
    return *this;
  }
  TarBuilder& symlink(const std::string& name, const std::string& target) {
    auto e = entry(name, AE_IFLNK, 0777, 1'600'000'000);
    archive_entry_set_symlink(e.get(), target.c_str());
    check(archive_write_header(archive_.get(), e.get()));
    return *this;
  }
  TarBuilder& hardlink(const std::string& name, const std::string& target) {
    auto e = entry(name, AE_IFREG, 0644, 1'600'000'000);
    archive_entry_set_hardlink(e.get(), target.c_str());
    archive_entry_set_size(e.get(), 0);
    check(archive_write_header(archive_.get(), e.get()));
    return *this;
  }
  TarBuilder& device(const std::string& name, mode_t type, unsigned major, unsigned minor) {
    auto e = entry(name, type, 0666, 1'600'000'000);
    archive_entry_set_rdevmajor(e.get(), major);
    archive_entry_set_rdevminor(e.get(), minor);
    check(archive_write_header(archive_.get(), e.get()));
    return *this;
  }
  TarBuilder& owned_file(const std::string& name, const std::string& content, mode_t mode, std::int64_t uid,
                         std::int64_t gid) {
    auto e = entry(name, AE_IFREG, mode, 1'600'000'000);
    archive_entry_set_uid(e.get(), uid);
    archive_entry_set_gid(e.get(), gid);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
    check(archive_write_header(archive_.get(), e.get()));
    archive_write_data(archive_.get(), content.data(), content.size());
    return *this;
  }

  std::string finish() {
    archive_write_close(archive_.get());
    return out_;
  }

 private:
  using EntryPtr = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

  EntryPtr entry(const std::string& name, mode_t type, mode_t mode, std::int64_t mtime) {
    EntryPtr e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), mode);
    archive_entry_set_mtime(e.get(), mtime, 0);
    return e;
  }
  void check(int status) {
    if (status < ARCHIVE_WARN) throw std::runtime_error(archive_error_string(archive_.get()));
  }
  static la_ssize_t append(struct archive*, void* out, const void* buffer, size_t length) {
    static_cast<std::string*>(out)->append(static_cast<const char*>(buffer), length);
    return static_cast<la_ssize_t>(length);
  }

  std::string out_;
  std::unique_ptr<struct archive, decltype(&archive_write_free)> archive_;
};

}  // namespace ckms::testing
