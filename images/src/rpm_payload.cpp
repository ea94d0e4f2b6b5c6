// An RPM payload unpacked through the OCI layer extraction (oci::apply_layer), so that .rpm,
// .deb and image layers all pass the same checks: entry names normalised and refused on "..",
// every write resolved beneath the target by the kernel, limits on sizes and counts. That code
// reads tar, so the cpio payload is re-written as a tar stream entry by entry on the way in, in
// constant memory (one data chunk at a time).
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "ckms/base/error.hpp"
#include "ckms/images/rpm.hpp"

namespace ckms::images {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kChunk = 1 << 16;

// The tar stream of a cpio payload. rpm writes "newc" cpio, in which the members of a hard-link
// set are all empty but the last, which carries the content; libarchive reports that last one
// as a hard link to the first. A tar hard link carries no content, so that member becomes a
// regular file with the content, and the earlier members are then linked to it.
class PayloadAsTar final : public ckms::Reader {
 public:
  PayloadAsTar(const fs::path& rpm, std::uint64_t payload_offset, std::string what)
      : what_(std::move(what)),
        chunk_(kChunk),
        fd_(::open(rpm.c_str(), O_RDONLY | O_CLOEXEC)),
        cpio_handle_(archive_read_new(), &archive_read_free),
        tar_handle_(archive_write_new(), &archive_write_free),
        cpio_(cpio_handle_.get()),
        tar_(tar_handle_.get()) {
    if (!fd_) fail_errno(rpm.string());
    if (cpio_ == nullptr || tar_ == nullptr) fail(ErrorKind::internal, "{}: cannot allocate archive handles", what_);
    if (::lseek(fd_.get(), static_cast<off_t>(payload_offset), SEEK_SET) < 0) fail_errno(rpm.string());
    // The compressors distributions' rpm packages use (the tests build each), and no
    // external programs.
    archive_read_support_filter_gzip(cpio_);
    archive_read_support_filter_xz(cpio_);
    archive_read_support_filter_bzip2(cpio_);
    archive_read_support_filter_zstd(cpio_);
    archive_read_support_format_cpio(cpio_);
    if (archive_read_open_fd(cpio_, fd_.get(), kChunk) != ARCHIVE_OK) {
      fail(ErrorKind::integrity, "{}: the payload is not a cpio archive: {}", what_, error_of(cpio_));
    }
    archive_write_set_format_pax_restricted(tar_);
    // Unblocked: each header and chunk reaches the callback as soon as it is written.
    archive_write_set_bytes_per_block(tar_, 0);
    if (archive_write_open(tar_, this, nullptr, collect, nullptr) != ARCHIVE_OK) {
      fail(ErrorKind::internal, "{}: cannot start a tar stream: {}", what_, error_of(tar_));
    }
  }
  PayloadAsTar(const PayloadAsTar&) = delete;
  PayloadAsTar& operator=(const PayloadAsTar&) = delete;

  std::size_t read(std::span<std::byte> buffer) override {
    while (offset_ == pending_.size() && state_ != State::finished) {
      pending_.clear();
      offset_ = 0;
      step();
    }
    const std::size_t n = std::min(buffer.size(), pending_.size() - offset_);
    std::memcpy(buffer.data(), pending_.data() + offset_, n);
    offset_ += n;
    return n;
  }

 private:
  enum class State { header, data, finished };

  static la_ssize_t collect(struct archive*, void* self, const void* bytes, size_t size) {
    auto& pending = static_cast<PayloadAsTar*>(self)->pending_;
    const auto* begin = static_cast<const char*>(bytes);
    pending.insert(pending.end(), begin, begin + size);
    return static_cast<la_ssize_t>(size);
  }

  static std::string error_of(struct archive* a) {
    const char* message = archive_error_string(a);
    return message != nullptr ? message : "unknown error";
  }

  std::string entry_what(std::string_view name) const { return fmt::format("{}: entry '{}'", what_, name); }

  void write_header(archive_entry* entry, std::string_view name) {
    if (archive_write_header(tar_, entry) < ARCHIVE_WARN) {
      fail(ErrorKind::integrity, "{}: cannot be carried over: {}", entry_what(name), error_of(tar_));
    }
  }

  // Produces the next piece of tar stream: one header, or one chunk of content.
  void step() {
    if (state_ == State::data) {
      const la_ssize_t n = archive_read_data(cpio_, chunk_.data(), chunk_.size());
      if (n < 0) fail(ErrorKind::integrity, "{}: cannot read its content: {}", entry_what(current_), error_of(cpio_));
      if (n == 0) {
        archive_write_finish_entry(tar_);
        state_ = State::header;
        return;
      }
      if (archive_write_data(tar_, chunk_.data(), static_cast<std::size_t>(n)) != n) {
        fail(ErrorKind::internal, "{}: cannot be carried over: {}", entry_what(current_), error_of(tar_));
      }
      return;
    }
    if (!relink_.empty()) {
      link_to_current(relink_.back());
      relink_.pop_back();
      return;
    }
    archive_entry* entry = nullptr;
    const int status = archive_read_next_header(cpio_, &entry);
    if (status == ARCHIVE_EOF) {
      if (archive_write_close(tar_) != ARCHIVE_OK) fail(ErrorKind::internal, "{}: {}", what_, error_of(tar_));
      state_ = State::finished;
      return;
    }
    if (status < ARCHIVE_WARN) {
      fail(ErrorKind::integrity, "{}: not a readable cpio payload after {} entries: {}", what_, entries_,
           error_of(cpio_));
    }
    ++entries_;
    const char* raw = archive_entry_pathname(entry);
    current_ = raw != nullptr ? raw : "";
    // Every rpm since 4.0 writes "./usr/..." (rpmlib(PayloadFilesHavePrefix)); anything else
    // was not made by rpm, and where it would land is better refused than guessed.
    if (!current_.starts_with("./")) {
      fail(ErrorKind::refused, "{}: not below './' as every RPM payload entry is", entry_what(current_));
    }
    track_hard_link(entry);
    // Any content of a hard link entry left is not carried: tar links have none.
    if (archive_entry_hardlink(entry) != nullptr) archive_entry_set_size(entry, 0);
    write_header(entry, current_);
    if (archive_entry_hardlink(entry) == nullptr && archive_entry_filetype(entry) == AE_IFREG &&
        archive_entry_size(entry) > 0) {
      state_ = State::data;
    }
  }

  void track_hard_link(archive_entry* entry) {
    const unsigned links = archive_entry_nlink(entry);
    if (links <= 1 || archive_entry_filetype(entry) != AE_IFREG) return;
    const std::pair key{archive_entry_dev(entry), archive_entry_ino64(entry)};
    auto& names = link_sets_[key];
    if (archive_entry_hardlink(entry) != nullptr && archive_entry_size(entry) > 0) {
      archive_entry_set_hardlink(entry, nullptr);
      relink_ = names;
    }
    names.push_back(current_);
    if (names.size() >= links) link_sets_.erase(key);
  }

  void link_to_current(const std::string& name) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> link(archive_entry_new(), &archive_entry_free);
    archive_entry_set_pathname(link.get(), name.c_str());
    archive_entry_set_filetype(link.get(), AE_IFREG);
    archive_entry_set_hardlink(link.get(), current_.c_str());
    archive_entry_set_size(link.get(), 0);
    write_header(link.get(), name);
  }

  std::string what_;
  std::vector<char> chunk_;
  // Outlive the writer: freeing an unfinished one flushes through collect() into pending_.
  std::vector<char> pending_;
  std::size_t offset_ = 0;
  ckms::UniqueFd fd_;  // outlives the reader that reads it
  std::unique_ptr<struct archive, decltype(&archive_read_free)> cpio_handle_;
  std::unique_ptr<struct archive, decltype(&archive_write_free)> tar_handle_;
  struct archive* cpio_;
  struct archive* tar_;
  State state_ = State::header;
  std::uint64_t entries_ = 0;
  std::string current_;
  std::map<std::pair<dev_t, la_int64_t>, std::vector<std::string>> link_sets_;
  std::vector<std::string> relink_;  // earlier members of current_'s set, linked to it after its content
};

}  // namespace

oci::UnpackResult unpack_rpm(const fs::path& rpm, const fs::path& target) {
  const RpmHeader header = read_rpm_header(rpm);
  if (header.source_package) fail(ErrorKind::usage, "{}: a source package, not files to install", rpm.string());
  PayloadAsTar tar(rpm, header.payload_offset, rpm.filename().string());
  oci::UnpackOptions options;
  options.layer_name = rpm.filename().string();
  options.xattrs = false;  // rpm keeps file capabilities in the header, not in the payload
  return oci::apply_layer(tar, target, options);
}

}  // namespace ckms::images
