#pragma once
// Content digests (OCI image-spec "descriptor.md#digests"): a parsed, validated value,
// never a bare string, and a streaming hasher that never needs the whole content at once.

#include <compare>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace ckms {

enum class DigestAlgorithm { sha256, sha512 };

std::string_view to_string(DigestAlgorithm algorithm);

class Digest {
 public:
  // Throws a usage error naming `text` when it is not `sha256:<64 hex>` or `sha512:<128 hex>`.
  static Digest parse(std::string_view text);
  static std::optional<Digest> try_parse(std::string_view text) noexcept;

  DigestAlgorithm algorithm() const noexcept { return algorithm_; }
  const std::string& hex() const noexcept { return hex_; }
  std::string str() const;

  friend bool operator==(const Digest&, const Digest&) = default;
  friend std::strong_ordering operator<=>(const Digest&, const Digest&) = default;

 private:
  Digest(DigestAlgorithm algorithm, std::string hex) : algorithm_(algorithm), hex_(std::move(hex)) {}
  DigestAlgorithm algorithm_;
  std::string hex_;
};

class Hasher {
 public:
  explicit Hasher(DigestAlgorithm algorithm = DigestAlgorithm::sha256);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;

  void update(std::span<const std::byte> bytes);
  void update(std::string_view bytes);
  std::uint64_t bytes_seen() const noexcept { return bytes_seen_; }
  // Ends the hash; the hasher cannot be updated afterwards.
  Digest finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
  DigestAlgorithm algorithm_;
  std::uint64_t bytes_seen_ = 0;
};

Digest digest_of(std::string_view bytes, DigestAlgorithm algorithm = DigestAlgorithm::sha256);
Digest digest_of_file(const std::filesystem::path& file, DigestAlgorithm algorithm = DigestAlgorithm::sha256);

}  // namespace ckms

template <>
struct std::hash<ckms::Digest> {
  std::size_t operator()(const ckms::Digest& d) const noexcept { return std::hash<std::string>{}(d.hex()); }
};

template <>
struct fmt::formatter<ckms::Digest> : fmt::formatter<std::string> {
  auto format(const ckms::Digest& d, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(d.str(), ctx);
  }
};
