#pragma once
// Ownership wrappers for the OpenSSL objects this library uses, and the error queue as text
// so that every failure message says what OpenSSL objected to.

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ckms::kmod::ossl {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using Cms = std::unique_ptr<CMS_ContentInfo, Deleter<CMS_ContentInfo_free>>;
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
inline void free_x509_stack(STACK_OF(X509) * stack) { sk_X509_pop_free(stack, X509_free); }
using X509Stack = std::unique_ptr<STACK_OF(X509), Deleter<free_x509_stack>>;

// Drains OpenSSL's error queue: "; reason; reason" or "" when it is empty.
std::string errors();

// A read-only memory BIO over bytes the caller keeps alive.
Bio memory_bio(std::string_view bytes);

// Everything written to a memory BIO so far.
std::string bio_contents(BIO* bio);

// One line: "CN = x, O = y" (RFC 2253 order reversed, as `openssl x509 -subject` prints).
std::string name_text(const X509_NAME* name);

// Upper-case hex without separators.
std::string hex(const unsigned char* data, std::size_t size);

// Serial numbers as kmod prints them: the big-endian magnitude without leading zeros,
// upper-case hex.
std::string serial_hex(const ASN1_INTEGER* serial);

// Every certificate in a file, undecoded: the file itself when it is not PEM, else each
// CERTIFICATE block's DER. Usage error naming the file when a PEM file holds none.
std::vector<std::string> read_certificate_ders(const std::filesystem::path& file);

// One certificate's DER decoded; usage error naming the file it came from otherwise.
X509Ptr parse_certificate(std::string_view der, const std::filesystem::path& file);

// read_certificate_ders(), decoded.
X509Stack read_certificates(const std::filesystem::path& file);

// An unencrypted private key, PEM or DER. Usage error naming the file otherwise.
PKey read_private_key(const std::filesystem::path& file);

// "pkcs11:...", a key in a PKCS#11 token (RFC 7512), as sign-file takes it.
bool is_pkcs11_uri(std::string_view key);

// The token's key through OpenSSL's pkcs11 engine; the PIN from KBUILD_SIGN_PIN (as
// sign-file) or the URI's pin-value. Usage error naming the URI when it cannot be had.
PKey read_pkcs11_key(const std::string& uri);

}  // namespace ckms::kmod::ossl
