#include "ckms/oci/layer_source.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cstring>

#include "ckms/base/error.hpp"

namespace ckms::oci {

namespace {

constexpr std::size_t kChunkSize = 1 << 18;
constexpr std::size_t kChunks = 6;

la_ssize_t tar_callback(struct archive*, void* self, const void** block) {
  return static_cast<LayerSource*>(self)->next_block(block);
}

struct RawInput {
  Reader& reader;
  std::vector<std::byte> buffer = std::vector<std::byte>(kCopyBufferSize);
  std::exception_ptr error;
};

la_ssize_t raw_callback(struct archive* a, void* self, const void** block) {
  auto* input = static_cast<RawInput*>(self);
  try {
    const std::size_t n = input->reader.read(input->buffer);
    *block = input->buffer.data();
    return static_cast<la_ssize_t>(n);
  } catch (...) {
    input->error = std::current_exception();
    archive_set_error(a, EIO, "read failed");
    return -1;
  }
}

}  // namespace

LayerSource::LayerSource(Reader& reader, std::string what)
    : reader_(reader), what_(std::move(what)), tar_(archive_read_new()) {
  if (tar_ == nullptr) fail(ErrorKind::internal, "{}: cannot allocate a tar reader", what_);
  for (std::size_t i = 0; i < kChunks; ++i) free_.push_back(Chunk{std::vector<std::byte>(kChunkSize)});
  producer_ = std::thread([this] { produce(); });
  archive_read_support_format_tar(tar_);
  if (archive_read_open(tar_, this, nullptr, tar_callback, nullptr) != ARCHIVE_OK) {
    const std::string message = archive_error_string(tar_) ? archive_error_string(tar_) : "";
    stop();  // no destructor runs for a throwing constructor
    if (error_) std::rethrow_exception(error_);
    fail(ErrorKind::integrity, "{}: not a tar stream (plain, gzip or zstd): {}", what_, message);
  }
}

LayerSource::~LayerSource() { stop(); }

void LayerSource::stop() noexcept {
  if (producer_.joinable()) {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    producer_.join();
  }
  if (tar_ != nullptr) archive_read_free(tar_);
  tar_ = nullptr;
}

LayerSource::Chunk LayerSource::take_free_chunk() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return stopping_ || !free_.empty(); });
  if (stopping_) return {};
  Chunk chunk = std::move(free_.back());
  free_.pop_back();
  return chunk;
}

void LayerSource::produce() {
  try {
    decompress();
  } catch (...) {
    const std::lock_guard lock(mutex_);
    error_ = std::current_exception();
  }
  {
    const std::lock_guard lock(mutex_);
    finished_ = true;
  }
  changed_.notify_all();
}

void LayerSource::decompress() {
  // libarchive's raw format is a plain decompressor: one "entry" whose data is the tar.
  std::unique_ptr<struct archive, decltype(&archive_read_free)> raw(archive_read_new(), archive_read_free);
  archive_read_support_filter_gzip(raw.get());
  archive_read_support_filter_zstd(raw.get());
  archive_read_support_format_raw(raw.get());
  RawInput input{reader_, std::vector<std::byte>(kCopyBufferSize), nullptr};
  const auto broken = [&](std::string_view stage) {
    if (input.error) std::rethrow_exception(input.error);
    fail(ErrorKind::integrity, "{}: {}: {}", what_, stage,
         archive_error_string(raw.get()) ? archive_error_string(raw.get()) : "unreadable");
  };
  if (archive_read_open(raw.get(), &input, nullptr, raw_callback, nullptr) != ARCHIVE_OK) {
    broken("cannot read the stream");
  }
  archive_entry* entry = nullptr;
  const int status = archive_read_next_header(raw.get(), &entry);
  if (status == ARCHIVE_EOF) return;  // empty blob: the tar reader reports it
  if (status < ARCHIVE_WARN) broken("cannot read the stream");
  for (;;) {
    Chunk chunk = take_free_chunk();
    if (chunk.bytes.empty()) return;
    const la_ssize_t n = archive_read_data(raw.get(), chunk.bytes.data(), chunk.bytes.size());
    if (n < 0) broken("corrupt compressed stream");
    chunk.size = static_cast<std::size_t>(n);
    {
      const std::lock_guard lock(mutex_);
      ready_.push_back(std::move(chunk));
    }
    changed_.notify_all();
    if (n == 0) break;
  }
  // Whatever follows the compressed stream is read too, so a VerifyingReader sees it all.
  while (reader_.read(input.buffer) > 0) {
  }
}

long LayerSource::next_block(const void** block) {
  std::unique_lock lock(mutex_);
  if (!in_use_.bytes.empty()) free_.push_back(std::move(in_use_));
  in_use_ = {};
  changed_.notify_all();
  changed_.wait(lock, [&] { return !ready_.empty() || finished_; });
  if (ready_.empty()) {
    if (error_) {
      archive_set_error(tar_, EIO, "%s: read failed", what_.c_str());
      return -1;
    }
    return 0;
  }
  in_use_ = std::move(ready_.front());
  ready_.pop_front();
  *block = in_use_.bytes.data();
  return static_cast<long>(in_use_.size);
}

void LayerSource::rethrow_reader_error() {
  const std::lock_guard lock(mutex_);
  if (error_) std::rethrow_exception(error_);
}

void LayerSource::drain() {
  // The tar reader stops at the end-of-archive blocks; the rest still flows through the
  // producer, which needs free buffers to finish.
  std::unique_lock lock(mutex_);
  for (;;) {
    while (!ready_.empty()) {
      free_.push_back(std::move(ready_.front()));
      ready_.pop_front();
    }
    changed_.notify_all();
    if (finished_) break;
    changed_.wait(lock, [&] { return finished_ || !ready_.empty(); });
  }
  if (error_) std::rethrow_exception(error_);
}

}  // namespace ckms::oci
