#include "ckms/images/decompress.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>

#include <exception>
#include <vector>

#include "ckms/base/error.hpp"

namespace ckms::images {
namespace {

// libarchive's "raw" format hands the decompressed stream over as a single entry.
class DecompressingReader final : public ckms::Reader {
 public:
  DecompressingReader(ckms::Reader& inner, std::string what)
      : inner_(inner), what_(std::move(what)), buffer_(ckms::kCopyBufferSize), archive_(archive_read_new()) {
    if (archive_ == nullptr) fail(ErrorKind::internal, "{}: cannot allocate a decompressor", what_);
    archive_read_support_filter_all(archive_);
    archive_read_support_format_raw(archive_);
    archive_entry* entry = nullptr;
    if (archive_read_open(archive_, this, nullptr, read_callback, nullptr) != ARCHIVE_OK ||
        archive_read_next_header(archive_, &entry) != ARCHIVE_OK) {
      rethrow_inner_error();
      const std::string message = error_string();
      archive_read_free(archive_);
      fail(ErrorKind::integrity, "{}: cannot decompress: {}", what_, message);
    }
  }
  ~DecompressingReader() override { archive_read_free(archive_); }
  DecompressingReader(const DecompressingReader&) = delete;
  DecompressingReader& operator=(const DecompressingReader&) = delete;

  std::size_t read(std::span<std::byte> buffer) override {
    const la_ssize_t n = archive_read_data(archive_, buffer.data(), buffer.size());
    if (n < 0) {
      rethrow_inner_error();
      fail(ErrorKind::integrity, "{}: corrupt compressed data: {}", what_, error_string());
    }
    return static_cast<std::size_t>(n);
  }

 private:
  static la_ssize_t read_callback(struct archive*, void* self, const void** block) {
    auto* reader = static_cast<DecompressingReader*>(self);
    try {
      const std::size_t n = reader->inner_.read(reader->buffer_);
      *block = reader->buffer_.data();
      return static_cast<la_ssize_t>(n);
    } catch (...) {
      reader->inner_error_ = std::current_exception();
      archive_set_error(reader->archive_, EIO, "%s: read failed", reader->what_.c_str());
      return -1;
    }
  }
  void rethrow_inner_error() const {
    if (inner_error_) std::rethrow_exception(inner_error_);
  }
  std::string error_string() const {
    const char* message = archive_error_string(archive_);
    return message != nullptr ? message : "unknown error";
  }

  ckms::Reader& inner_;
  std::string what_;
  std::vector<std::byte> buffer_;
  std::exception_ptr inner_error_;
  struct archive* archive_ = nullptr;
};

}  // namespace

std::unique_ptr<ckms::Reader> decompressing(ckms::Reader& compressed, std::string what) {
  return std::make_unique<DecompressingReader>(compressed, std::move(what));
}

}  // namespace ckms::images
