#pragma once
// The kernel's own module signature check (crypto/asymmetric_keys: the signer found by
// issuer and serial or key id, then PKCS#1 v1.5 over the SHA-2 digest of the content) with
// OpenSSL's primitives alone: the certificate read as DER, the RSA key with
// d2i_RSAPublicKey, the whole DigestInfo compared. OpenSSL 3's decoders and providers, which
// X509 parsing and CMS_verify start, cost several times the check itself when a node loads
// from its cache (docs/loader.md, "Performance").
//
// It only ever accepts. Whatever it does not handle (signed attributes, other algorithms, a
// key that is not RSA) and whatever does not verify goes to CMS_verify, which decides and
// says what is wrong.

#include <openssl/cms.h>

#include <optional>
#include <string>
#include <string_view>

namespace ckms::kmod::direct {

// What the check needs of a trusted certificate, read from its DER without OpenSSL's X.509
// decoder.
struct CertificateFields {
  std::string issuer;          // DER of the issuer Name
  std::string serial;          // the serial's magnitude, big-endian, no leading zeros
  std::string subject;         // DER of the subject Name
  std::string subject_key_id;  // the subject key identifier extension's value; may be empty
  std::string rsa_public_key;  // RSAPublicKey DER; empty when the key is not rsaEncryption
};

// Nullopt when `der` does not start with a well-formed X.509 certificate.
std::optional<CertificateFields> read_fields(std::string_view der);

// True only when `signer` names `certificate` and its signature over `content` verifies.
bool verifies(CMS_SignerInfo* signer, std::string_view content, const CertificateFields& certificate);

}  // namespace ckms::kmod::direct
