#pragma once
// A libarchive tar reader fed from a ckms Reader: tar (ustar, pax, GNU) compressed with gzip or
// zstd, or not compressed, detected from the bytes themselves. Decompression runs on its own
// thread, a few buffers ahead of the tar parser, so inflating overlaps with writing files (as
// GNU tar overlaps with its gzip child).

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ckms/base/io.hpp"

struct archive;

namespace ckms::oci {

class LayerSource {
 public:
  LayerSource(Reader& reader, std::string what);
  ~LayerSource();
  LayerSource(const LayerSource&) = delete;
  LayerSource& operator=(const LayerSource&) = delete;

  // The tar reader; valid for the life of this object.
  struct archive* handle() const noexcept {
    return tar_;
  }

  // Throws what the Reader or the decompressor threw (a network or integrity error) if that
  // is why libarchive failed, so the caller sees the cause rather than "truncated archive".
  void rethrow_reader_error();

  // Waits until the Reader has been read to its end (tar end padding, trailing bytes), so a
  // VerifyingReader has checked the digest of the whole blob, and rethrows its error if any.
  void drain();

  // Callback target for libarchive; not for callers.
  long next_block(const void** block);

 private:
  struct Chunk {
    std::vector<std::byte> bytes;
    std::size_t size = 0;
  };

  void stop() noexcept;
  void produce();
  void decompress();
  Chunk take_free_chunk();  // blocks while all buffers are in flight; empty when stopping

  Reader& reader_;
  std::string what_;
  struct archive* tar_ = nullptr;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Chunk> ready_;
  std::vector<Chunk> free_;
  Chunk in_use_;  // the block libarchive is parsing now
  bool finished_ = false;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread producer_;
};

}  // namespace ckms::oci
