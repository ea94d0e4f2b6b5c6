// OpenSSL's low-level SHA functions, deprecated in 3.0 in favour of EVP, on purpose: EVP's
// first digest initialises the provider machinery, which costs more than hashing a module
// and its manifests does when a node loads from its cache (docs/loader.md, "Performance").
// Both run the same assembly; only the FIPS provider is out of reach, which ckms never
// selects.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "ckms/base/digest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <variant>

#include <openssl/sha.h>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

namespace ckms {
namespace {

std::size_t hex_length(DigestAlgorithm algorithm) { return algorithm == DigestAlgorithm::sha256 ? 64 : 128; }

bool is_lower_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::sha256 ? "sha256" : "sha512";
}

std::optional<Digest> Digest::try_parse(std::string_view text) noexcept {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto name = text.substr(0, colon);
  const auto hex = text.substr(colon + 1);
  DigestAlgorithm algorithm;
  if (name == "sha256") {
    algorithm = DigestAlgorithm::sha256;
  } else if (name == "sha512") {
    algorithm = DigestAlgorithm::sha512;
  } else {
    return std::nullopt;
  }
  if (hex.size() != hex_length(algorithm) || !is_lower_hex(hex)) return std::nullopt;
  return Digest(algorithm, std::string(hex));
}

Digest Digest::parse(std::string_view text) {
  if (auto digest = try_parse(text)) return *digest;
  fail(ErrorKind::usage, "invalid digest '{}': expected sha256:<64 hex> or sha512:<128 hex>", text);
}

std::string Digest::str() const { return std::string(to_string(algorithm_)) + ":" + hex_; }

struct Hasher::Context {
  std::variant<SHA256_CTX, SHA512_CTX> state;
};

Hasher::Hasher(DigestAlgorithm algorithm) : context_(std::make_unique<Context>()), algorithm_(algorithm) {
  if (algorithm == DigestAlgorithm::sha256) {
    SHA256_Init(&context_->state.emplace<SHA256_CTX>());
  } else {
    SHA512_Init(&context_->state.emplace<SHA512_CTX>());
  }
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  if (auto* state = std::get_if<SHA256_CTX>(&context_->state)) {
    SHA256_Update(state, bytes.data(), bytes.size());
  } else {
    SHA512_Update(&std::get<SHA512_CTX>(context_->state), bytes.data(), bytes.size());
  }
  bytes_seen_ += bytes.size();
}

void Hasher::update(std::string_view bytes) { update(std::as_bytes(std::span(bytes))); }

Digest Hasher::finish() {
  std::array<unsigned char, SHA512_DIGEST_LENGTH> out{};
  unsigned int length = 0;
  if (auto* state = std::get_if<SHA256_CTX>(&context_->state)) {
    SHA256_Final(out.data(), state);
    length = SHA256_DIGEST_LENGTH;
  } else {
    SHA512_Final(out.data(), &std::get<SHA512_CTX>(context_->state));
    length = SHA512_DIGEST_LENGTH;
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(digits[out[i] >> 4]);
    hex.push_back(digits[out[i] & 0xf]);
  }
  return Digest::parse(std::string(to_string(algorithm_)) + ":" + hex);
}

Digest digest_of(std::string_view bytes, DigestAlgorithm algorithm) {
  Hasher hasher(algorithm);
  hasher.update(bytes);
  return hasher.finish();
}

Digest digest_of_file(const std::filesystem::path& file, DigestAlgorithm algorithm) {
  FileReader reader(file);
  Hasher hasher(algorithm);
  std::array<std::byte, 1 << 16> buffer{};
  while (std::size_t n = reader.read(buffer)) hasher.update(std::span(buffer.data(), n));
  return hasher.finish();
}

}  // namespace ckms
