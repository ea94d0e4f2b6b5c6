#include "openssl.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <climits>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

namespace ckms::kmod::ossl {

std::string errors() {
  std::string out;
  while (const unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    out += "; ";
    out += text;
  }
  return out;
}

Bio memory_bio(std::string_view bytes) {
  if (bytes.size() > INT_MAX) fail(ErrorKind::usage, "{} bytes is too large for OpenSSL", bytes.size());
  Bio bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  if (!bio) fail(ErrorKind::internal, "cannot create a memory BIO{}", errors());
  return bio;
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string name_text(const X509_NAME* name) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    fail(ErrorKind::internal, "cannot print an X.509 name{}", errors());
  }
  return bio_contents(bio.get());
}

std::string hex(const unsigned char* data, std::size_t size) {
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) out += fmt::format("{:02X}", data[i]);
  return out;
}

// Serial numbers as kmod prints them: the big-endian magnitude without leading zeros.
std::string serial_hex(const ASN1_INTEGER* serial) {
  std::unique_ptr<BIGNUM, Deleter<BN_free>> bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return {};
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn.get())), '\0');
  BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()));
  return hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

namespace {

// Key and certificate files are small; anything bigger is not one.
constexpr std::size_t kMaxCredentialFile = 1 << 20;

bool looks_like_pem(std::string_view bytes) { return bytes.find("-----BEGIN ") != std::string_view::npos; }

}  // namespace

std::vector<std::string> read_certificate_ders(const std::filesystem::path& file) {
  std::string bytes = ckms::read_file(file, kMaxCredentialFile);
  if (!looks_like_pem(bytes)) return {std::move(bytes)};
  std::vector<std::string> ders;
  Bio bio = memory_bio(bytes);
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long size = 0;
  // The block names PEM_read_bio_X509 accepts; keys and other blocks beside them are skipped.
  while (PEM_read_bio(bio.get(), &name, &header, &data, &size) == 1) {
    const std::string_view kind(name);
    if (kind == PEM_STRING_X509 || kind == PEM_STRING_X509_OLD) {
      ders.emplace_back(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
  ERR_clear_error();  // the loop ends on "no start line" at the end of the file
  if (ders.empty()) fail(ErrorKind::usage, "{}: no X.509 certificate (PEM or DER) in it", file.string());
  return ders;
}

X509Ptr parse_certificate(std::string_view der, const std::filesystem::path& file) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) fail(ErrorKind::usage, "{}: no X.509 certificate (PEM or DER) in it{}", file.string(), errors());
  return cert;
}

X509Stack read_certificates(const std::filesystem::path& file) {
  X509Stack certs(sk_X509_new_null());
  if (!certs) fail(ErrorKind::internal, "cannot allocate a certificate list{}", errors());
  for (const std::string& der : read_certificate_ders(file)) {
    if (sk_X509_push(certs.get(), parse_certificate(der, file).release()) == 0) {
      fail(ErrorKind::internal, "cannot allocate a certificate list{}", errors());
    }
  }
  return certs;
}

PKey read_private_key(const std::filesystem::path& file) {
  const std::string bytes = ckms::read_file(file, kMaxCredentialFile);
  Bio bio = memory_bio(bytes);
  // An empty passphrase callback: an encrypted key fails instead of prompting on a terminal.
  const auto no_passphrase = [](char*, int, int, void*) { return 0; };
  PKey key(looks_like_pem(bytes) ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)
                                 : d2i_PrivateKey_bio(bio.get(), nullptr));
  if (!key) {
    fail(ErrorKind::usage, "{}: no unencrypted private key (PEM or DER) in it{}", file.string(), errors());
  }
  return key;
}

}  // namespace ckms::kmod::ossl
