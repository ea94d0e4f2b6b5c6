#include "ckms/oci/digest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>

#include <openssl/evp.h>

#include "ckms/oci/error.hpp"
#include "ckms/oci/io.hpp"

namespace ckms::oci {
namespace {

std::size_t hex_length(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::sha256 ? 64 : 128;
}

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
  fail(ErrorKind::usage, "invalid digest '{}': expected sha256:<64 hex> or sha512:<128 hex>",
       text);
}

std::string Digest::str() const { return std::string(to_string(algorithm_)) + ":" + hex_; }

struct Hasher::Context {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(DigestAlgorithm algorithm)
    : context_(std::make_unique<Context>()), algorithm_(algorithm) {
  const EVP_MD* md = algorithm == DigestAlgorithm::sha256 ? EVP_sha256() : EVP_sha512();
  if (context_->ctx == nullptr || EVP_DigestInit_ex(context_->ctx, md, nullptr) != 1) {
    fail(ErrorKind::internal, "OpenSSL could not start a {} digest", to_string(algorithm));
  }
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  EVP_DigestUpdate(context_->ctx, bytes.data(), bytes.size());
  bytes_seen_ += bytes.size();
}

void Hasher::update(std::string_view bytes) { update(std::as_bytes(std::span(bytes))); }

Digest Hasher::finish() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(context_->ctx, out.data(), &length);
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

}  // namespace ckms::oci
