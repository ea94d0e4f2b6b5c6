#pragma once
// A libarchive reader fed from a ckms Reader: tar (ustar, pax, GNU) compressed with gzip or
// zstd, or not compressed, detected from the bytes themselves.

#include <exception>
#include <string>
#include <vector>

#include "ckms/oci/io.hpp"

struct archive;

namespace ckms::oci {

class LayerSource {
 public:
  LayerSource(Reader& reader, std::string what);
  ~LayerSource();
  LayerSource(const LayerSource&) = delete;
  LayerSource& operator=(const LayerSource&) = delete;

  struct archive* handle() const noexcept { return archive_; }

  // Throws what the Reader threw (a network or integrity error) if that is why libarchive
  // failed, so the caller sees the cause rather than "truncated archive".
  void rethrow_reader_error() const;

  // Reads the rest of the Reader (tar end padding, trailing bytes) so that a VerifyingReader
  // reaches its end and checks the digest of the whole blob.
  void drain();

  // Callback target for libarchive; not for callers.
  long read_block(const void** block);

 private:
  Reader& reader_;
  std::string what_;
  std::vector<std::byte> buffer_;
  std::exception_ptr reader_error_;
  struct archive* archive_ = nullptr;
};

}  // namespace ckms::oci
