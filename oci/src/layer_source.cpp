#include "ckms/oci/layer_source.hpp"

#include <archive.h>

#include "ckms/oci/error.hpp"

namespace ckms::oci {

namespace {

la_ssize_t read_callback(struct archive*, void* self, const void** block) {
  return static_cast<LayerSource*>(self)->read_block(block);
}

}  // namespace

LayerSource::LayerSource(Reader& reader, std::string what)
    : reader_(reader), what_(std::move(what)), buffer_(kCopyBufferSize), archive_(archive_read_new()) {
  if (archive_ == nullptr) fail(ErrorKind::internal, "{}: cannot allocate a tar reader", what_);
  archive_read_support_filter_gzip(archive_);
  archive_read_support_filter_zstd(archive_);
  archive_read_support_format_tar(archive_);
  if (archive_read_open(archive_, this, nullptr, read_callback, nullptr) != ARCHIVE_OK) {
    rethrow_reader_error();
    const std::string message = archive_error_string(archive_) ? archive_error_string(archive_) : "";
    archive_read_free(archive_);
    fail(ErrorKind::integrity, "{}: not a tar stream (plain, gzip or zstd): {}", what_, message);
  }
}

LayerSource::~LayerSource() { archive_read_free(archive_); }

long LayerSource::read_block(const void** block) {
  try {
    const std::size_t n = reader_.read(buffer_);
    *block = buffer_.data();
    return static_cast<long>(n);
  } catch (...) {
    reader_error_ = std::current_exception();
    archive_set_error(archive_, EIO, "%s: read failed", what_.c_str());
    return -1;
  }
}

void LayerSource::rethrow_reader_error() const {
  if (reader_error_) std::rethrow_exception(reader_error_);
}

void LayerSource::drain() {
  rethrow_reader_error();
  while (reader_.read(buffer_) > 0) {
  }
}

}  // namespace ckms::oci
