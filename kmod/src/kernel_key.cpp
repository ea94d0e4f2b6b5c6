#include "ckms/kmod/kernel_key.hpp"

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <cctype>

#include "ckms/base/error.hpp"
#include "openssl.hpp"

namespace ckms::kmod {
namespace {

// The raw bytes of the last `nid` entry of `name`, whatever its string type: the kernel's
// x509_extract_name_segment keeps the last one it meets and copies its bytes as they are.
std::string last_entry(const X509_NAME* name, int nid) {
  int index = -1;
  for (int next = X509_NAME_get_index_by_NID(name, nid, -1); next >= 0;
       next = X509_NAME_get_index_by_NID(name, nid, next)) {
    index = next;
  }
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<std::size_t>(ASN1_STRING_length(data)));
}

// x509_fabricate_name: CN, unless O is there and CN does not start with it (or with its
// first 7 characters); then "O: CN".
std::string kernel_name(const X509_NAME* name) {
  const std::string cn = last_entry(name, NID_commonName);
  const std::string o = last_entry(name, NID_organizationName);
  if (!cn.empty() && !o.empty()) {
    if (cn.starts_with(o)) return cn;
    if (cn.size() >= 7 && o.size() >= 7 && cn.compare(0, 7, o, 0, 7) == 0) return cn;
    return o + ": " + cn;
  }
  if (!cn.empty()) return cn;
  if (!o.empty()) return o;
  return last_entry(name, NID_pkcs9_emailAddress);
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The serial's DER content octets, sign byte included: what the kernel keeps as raw_serial.
std::string raw_serial(const ASN1_INTEGER* serial) {
  unsigned char* der = nullptr;
  const int size = i2d_ASN1_INTEGER(serial, &der);
  if (size <= 2) fail(ErrorKind::internal, "cannot encode a serial number{}", ossl::errors());
  const std::string encoded(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  // Tag, then a short length or 0x80|n followed by n length octets.
  const auto first = static_cast<unsigned char>(encoded[1]);
  const std::size_t header = 2 + ((first & 0x80U) != 0 ? (first & 0x7FU) : 0U);
  return encoded.substr(header);
}

std::string fingerprint(X509* cert, const EVP_MD* md) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(cert, md, digest, &size) != 1) fail(ErrorKind::internal, "cannot digest a certificate");
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    if (i != 0) out += ':';
    out += ossl::hex(digest + i, 1);
  }
  return out;
}

std::string time_text(const ASN1_TIME* time) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), time) != 1) return {};
  return ossl::bio_contents(bio.get());
}

}  // namespace

KernelKeyIdentity kernel_key_identity(std::string_view der, std::string_view what) {
  const ossl::X509Ptr cert = ossl::parse_certificate(der, std::string(what));
  KernelKeyIdentity id;
  id.der = std::string(der);
  id.subject = ossl::name_text(X509_get_subject_name(cert.get()));
  id.issuer = ossl::name_text(X509_get_issuer_name(cert.get()));
  id.serial = ossl::serial_hex(X509_get0_serialNumber(cert.get()));
  id.kernel_name = kernel_name(X509_get_subject_name(cert.get()));
  const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(cert.get());
  if (skid != nullptr) {
    id.subject_key_id = ossl::hex(ASN1_STRING_get0_data(skid), static_cast<std::size_t>(ASN1_STRING_length(skid)));
    id.key_id = lower(id.subject_key_id);
  } else {
    const std::string serial = raw_serial(X509_get0_serialNumber(cert.get()));
    id.key_id = lower(ossl::hex(reinterpret_cast<const unsigned char*>(serial.data()), serial.size()));
  }
  id.sha1_fingerprint = fingerprint(cert.get(), EVP_sha1());
  id.sha256_fingerprint = fingerprint(cert.get(), EVP_sha256());
  id.not_after = time_text(X509_get0_notAfter(cert.get()));
  return id;
}

std::vector<KernelKeyIdentity> read_kernel_key_identities(const std::filesystem::path& file) {
  std::vector<KernelKeyIdentity> out;
  for (const std::string& der : ossl::read_certificate_ders(file))
    out.push_back(kernel_key_identity(der, file.string()));
  return out;
}

bool signed_by(const SignerId& signer, const KernelKeyIdentity& certificate) {
  if (!signer.key_id.empty()) return signer.key_id == certificate.subject_key_id;
  return !signer.serial.empty() && signer.serial == certificate.serial && signer.issuer == certificate.issuer;
}

}  // namespace ckms::kmod
