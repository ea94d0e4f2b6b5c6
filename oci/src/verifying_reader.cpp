#include "ckms/oci/verifying_reader.hpp"

#include "ckms/base/error.hpp"

namespace ckms::oci {

VerifyingReader::VerifyingReader(Reader& inner, Digest expected, std::int64_t expected_size, std::string what)
    : inner_(inner),
      expected_(std::move(expected)),
      expected_size_(expected_size),
      what_(std::move(what)),
      hasher_(expected_.algorithm()) {}

std::size_t VerifyingReader::read(std::span<std::byte> buffer) {
  const std::size_t n = inner_.read(buffer);
  if (n > 0) {
    hasher_.update(std::span<const std::byte>(buffer.data(), n));
    if (expected_size_ >= 0 && hasher_.bytes_seen() > static_cast<std::uint64_t>(expected_size_)) {
      fail(ErrorKind::integrity, "{}: more than the {} bytes its descriptor declares", what_, expected_size_);
    }
    return n;
  }
  if (!verified_) {
    if (expected_size_ >= 0 && hasher_.bytes_seen() != static_cast<std::uint64_t>(expected_size_)) {
      fail(ErrorKind::integrity, "{}: got {} bytes, its descriptor declares {}", what_, hasher_.bytes_seen(),
           expected_size_);
    }
    const Digest actual = hasher_.finish();
    if (actual != expected_) {
      fail(ErrorKind::integrity, "{}: content has digest {}, expected {}", what_, actual.str(), expected_.str());
    }
    verified_ = true;
  }
  return 0;
}

}  // namespace ckms::oci
