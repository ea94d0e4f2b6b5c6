#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "ckms/base/digest.hpp"
#include "ckms/base/io.hpp"

namespace ckms::oci {

// Passes bytes through while hashing them; at the end of the content (or as soon as more
// bytes arrive than expected) it throws an integrity error naming `what`. Callers commit
// nothing until the reader has reported its end, so bad content is never kept.
class VerifyingReader final : public Reader {
 public:
  VerifyingReader(Reader& inner, Digest expected, std::int64_t expected_size, std::string what);
  std::size_t read(std::span<std::byte> buffer) override;

 private:
  Reader& inner_;
  Digest expected_;
  std::int64_t expected_size_;
  std::string what_;
  Hasher hasher_;
  bool verified_ = false;
};

}  // namespace ckms::oci
