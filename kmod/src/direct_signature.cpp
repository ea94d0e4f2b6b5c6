// RSA, d2i_RSAPublicKey and the one-shot SHA-2 functions are deprecated in OpenSSL 3 in
// favour of EVP_PKEY, whose use starts the provider machinery this file exists to avoid.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "direct_signature.hpp"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <array>
#include <memory>
#include <vector>

namespace ckms::kmod::direct {
namespace {

using namespace std::string_view_literals;

constexpr std::string_view kRsaEncryption = "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"sv;  // 1.2.840.113549.1.1.1
constexpr std::string_view kSubjectKeyIdentifier = "\x55\x1d\x0e"sv;                   // 2.5.29.14

struct Tlv {
  int tag = 0;
  int cls = 0;
  bool constructed = false;
  std::string_view whole;  // header and content
  std::string_view content;
};

// The DER element at the start of `in`, which then starts after it; nullopt when it is
// malformed or has an indefinite length, which DER does not allow.
std::optional<Tlv> next(std::string_view& in) {
  const auto* start = reinterpret_cast<const unsigned char*>(in.data());
  const unsigned char* p = start;
  long length = 0;
  Tlv tlv;
  const int flags = ASN1_get_object(&p, &length, &tlv.tag, &tlv.cls, static_cast<long>(in.size()));
  if ((flags & 0x80) != 0 || flags == (V_ASN1_CONSTRUCTED | 1)) return std::nullopt;
  const auto header = static_cast<std::size_t>(p - start);
  if (length < 0 || static_cast<std::size_t>(length) > in.size() - header) return std::nullopt;
  tlv.constructed = (flags & V_ASN1_CONSTRUCTED) != 0;
  tlv.whole = in.substr(0, header + static_cast<std::size_t>(length));
  tlv.content = in.substr(header, static_cast<std::size_t>(length));
  in.remove_prefix(tlv.whole.size());
  return tlv;
}

bool is(const std::optional<Tlv>& tlv, int tag, bool constructed, int cls = V_ASN1_UNIVERSAL) {
  return tlv && tlv->tag == tag && tlv->cls == cls && tlv->constructed == constructed;
}

std::string magnitude(std::string_view big_endian) {
  while (!big_endian.empty() && big_endian.front() == '\0') big_endian.remove_prefix(1);
  return std::string(big_endian);
}

std::string_view view(const ASN1_STRING* string) {
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(string)),
          static_cast<std::size_t>(ASN1_STRING_length(string))};
}

// extensions [3] EXPLICIT SEQUENCE OF SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }.
std::optional<std::string> subject_key_id(std::string_view explicit_content) {
  auto list = next(explicit_content);
  if (!is(list, V_ASN1_SEQUENCE, true) || !explicit_content.empty()) return std::nullopt;
  std::string found;
  std::string_view extensions = list->content;
  while (!extensions.empty()) {
    auto extension = next(extensions);
    if (!is(extension, V_ASN1_SEQUENCE, true)) return std::nullopt;
    std::string_view parts = extension->content;
    auto id = next(parts);
    if (!is(id, V_ASN1_OBJECT, false)) return std::nullopt;
    auto value = next(parts);
    if (is(value, V_ASN1_BOOLEAN, false)) value = next(parts);
    if (!is(value, V_ASN1_OCTET_STRING, false) || !parts.empty()) return std::nullopt;
    if (id->content != kSubjectKeyIdentifier) continue;
    std::string_view inner = value->content;
    auto key_id = next(inner);
    if (!is(key_id, V_ASN1_OCTET_STRING, false) || !inner.empty()) return std::nullopt;
    found = key_id->content;
  }
  return found;
}

std::optional<CertificateFields> parse(std::string_view der) {
  auto certificate = next(der);
  if (!is(certificate, V_ASN1_SEQUENCE, true)) return std::nullopt;
  std::string_view body = certificate->content;
  auto tbs = next(body);
  if (!is(tbs, V_ASN1_SEQUENCE, true) || !is(next(body), V_ASN1_SEQUENCE, true) ||
      !is(next(body), V_ASN1_BIT_STRING, false) || !body.empty()) {
    return std::nullopt;
  }

  CertificateFields out;
  std::string_view fields = tbs->content;
  auto field = next(fields);
  if (is(field, 0, true, V_ASN1_CONTEXT_SPECIFIC)) field = next(fields);  // version
  // Negative serials are not the kernel's kind; OpenSSL may make of them what it does.
  if (!is(field, V_ASN1_INTEGER, false) || field->content.empty() || (field->content.front() & 0x80) != 0) {
    return std::nullopt;
  }
  out.serial = magnitude(field->content);
  if (!is(next(fields), V_ASN1_SEQUENCE, true)) return std::nullopt;  // signature algorithm
  auto issuer = next(fields);
  if (!is(issuer, V_ASN1_SEQUENCE, true)) return std::nullopt;
  out.issuer = issuer->whole;
  if (!is(next(fields), V_ASN1_SEQUENCE, true)) return std::nullopt;  // validity
  auto subject = next(fields);
  if (!is(subject, V_ASN1_SEQUENCE, true)) return std::nullopt;
  out.subject = subject->whole;

  auto key_info = next(fields);
  if (!is(key_info, V_ASN1_SEQUENCE, true)) return std::nullopt;
  std::string_view key_parts = key_info->content;
  auto algorithm = next(key_parts);
  auto key = next(key_parts);
  if (!is(algorithm, V_ASN1_SEQUENCE, true) || !is(key, V_ASN1_BIT_STRING, false) || !key_parts.empty()) {
    return std::nullopt;
  }
  std::string_view algorithm_parts = algorithm->content;
  auto oid = next(algorithm_parts);
  if (!is(oid, V_ASN1_OBJECT, false)) return std::nullopt;
  // The BIT STRING's first octet counts unused bits; a key has none.
  if (oid->content == kRsaEncryption && key->content.size() > 1 && key->content.front() == '\0') {
    out.rsa_public_key = key->content.substr(1);
  }

  // issuerUniqueID [1], subjectUniqueID [2], extensions [3].
  while (!fields.empty()) {
    auto optional = next(fields);
    if (!optional || optional->cls != V_ASN1_CONTEXT_SPECIFIC) return std::nullopt;
    if (optional->tag != 3) continue;
    auto key_id = subject_key_id(optional->content);
    if (!key_id) return std::nullopt;
    out.subject_key_id = std::move(*key_id);
  }
  return out;
}

// Whether the SignerInfo's sid is this certificate, as CMS_SignerInfo_cert_cmp decides.
bool names(CMS_SignerInfo* signer, const CertificateFields& certificate) {
  ASN1_OCTET_STRING* key_id = nullptr;
  X509_NAME* issuer = nullptr;
  ASN1_INTEGER* serial = nullptr;
  if (CMS_SignerInfo_get0_signer_id(signer, &key_id, &issuer, &serial) != 1) return false;
  if (key_id != nullptr) return !certificate.subject_key_id.empty() && view(key_id) == certificate.subject_key_id;
  if (issuer == nullptr || serial == nullptr || ASN1_STRING_type(serial) != V_ASN1_INTEGER) return false;
  const unsigned char* issuer_der = nullptr;
  std::size_t issuer_size = 0;
  if (X509_NAME_get0_der(issuer, &issuer_der, &issuer_size) != 1) return false;
  return std::string_view(reinterpret_cast<const char*>(issuer_der), issuer_size) == certificate.issuer &&
         magnitude(view(serial)) == certificate.serial;
}

// DER of DigestInfo { AlgorithmIdentifier { oid, NULL }, OCTET STRING } up to the digest.
struct DigestScheme {
  int nid;
  std::string_view prefix;
  std::size_t size;
  unsigned char* (*hash)(const unsigned char*, std::size_t, unsigned char*);
};

constexpr std::array kSchemes{
    DigestScheme{NID_sha256, "\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20"sv,
                 SHA256_DIGEST_LENGTH, SHA256},
    DigestScheme{NID_sha384, "\x30\x41\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02\x05\x00\x04\x30"sv,
                 SHA384_DIGEST_LENGTH, SHA384},
    DigestScheme{NID_sha512, "\x30\x51\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03\x05\x00\x04\x40"sv,
                 SHA512_DIGEST_LENGTH, SHA512},
};

struct RsaFree {
  void operator()(RSA* rsa) const { RSA_free(rsa); }
};

bool signature_matches(CMS_SignerInfo* signer, std::string_view content, const CertificateFields& certificate) {
  // Signed attributes put the digest inside them; CMS_verify handles those.
  if (CMS_signed_get_attr_count(signer) >= 0) return false;
  X509_ALGOR* digest_algorithm = nullptr;
  X509_ALGOR* signature_algorithm = nullptr;
  CMS_SignerInfo_get0_algs(signer, nullptr, nullptr, &digest_algorithm, &signature_algorithm);
  if (digest_algorithm == nullptr || signature_algorithm == nullptr ||
      OBJ_obj2nid(signature_algorithm->algorithm) != NID_rsaEncryption) {
    return false;
  }
  const int digest_nid = OBJ_obj2nid(digest_algorithm->algorithm);
  const DigestScheme* scheme = nullptr;
  for (const auto& candidate : kSchemes) {
    if (candidate.nid == digest_nid) scheme = &candidate;
  }
  if (scheme == nullptr) return false;

  const auto* key_der = reinterpret_cast<const unsigned char*>(certificate.rsa_public_key.data());
  const unsigned char* key_end = key_der + certificate.rsa_public_key.size();
  std::unique_ptr<RSA, RsaFree> rsa(
      d2i_RSAPublicKey(nullptr, &key_der, static_cast<long>(certificate.rsa_public_key.size())));
  if (!rsa || key_der != key_end) return false;
  const ASN1_OCTET_STRING* signature = CMS_SignerInfo_get0_signature(signer);
  const int modulus_size = RSA_size(rsa.get());
  if (signature == nullptr || ASN1_STRING_length(signature) != modulus_size) return false;

  std::vector<unsigned char> recovered(static_cast<std::size_t>(modulus_size));
  const int recovered_size = RSA_public_decrypt(ASN1_STRING_length(signature), ASN1_STRING_get0_data(signature),
                                                recovered.data(), rsa.get(), RSA_PKCS1_PADDING);
  std::string expected(scheme->prefix);
  expected.resize(scheme->prefix.size() + scheme->size);
  scheme->hash(reinterpret_cast<const unsigned char*>(content.data()), content.size(),
               reinterpret_cast<unsigned char*>(expected.data() + scheme->prefix.size()));
  return recovered_size == static_cast<int>(expected.size()) &&
         std::string_view(reinterpret_cast<const char*>(recovered.data()), expected.size()) == expected;
}

}  // namespace

std::optional<CertificateFields> read_fields(std::string_view der) {
  auto fields = parse(der);
  // A refusal here is the X.509 decoder's to explain; leave its error queue clean.
  if (!fields) ERR_clear_error();
  return fields;
}

bool verifies(CMS_SignerInfo* signer, std::string_view content, const CertificateFields& certificate) {
  if (certificate.rsa_public_key.empty() || !names(signer, certificate)) return false;
  const bool verified = signature_matches(signer, content, certificate);
  // A signature that does not verify here is CMS_verify's to explain.
  ERR_clear_error();
  return verified;
}

}  // namespace ckms::kmod::direct
