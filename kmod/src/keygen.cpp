#include "ckms/kmod/keygen.hpp"

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <utility>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "openssl.hpp"

namespace ckms::kmod {
namespace {

[[noreturn]] void failed(std::string_view step) {
  fail(ErrorKind::internal, "key generation failed in {}{}", step, ossl::errors());
}

// 159 random bits: positive, at most 20 bytes (RFC 5280), as `openssl req` does.
void set_random_serial(X509* cert) {
  std::unique_ptr<BIGNUM, ossl::Deleter<BN_free>> bn(BN_new());
  if (!bn || BN_rand(bn.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    failed("serial number");
  }
}

void add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  if (value.empty()) return;
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.c_str()), -1,
                                 -1, 0) != 1) {
    fail(ErrorKind::usage, "key generation: invalid {} {:?}{}", field, value, ossl::errors());
  }
}

void add_extensions(X509* cert) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  // subjectKeyIdentifier comes before authorityKeyIdentifier, which copies it.
  // keyid:always keeps the AKI in a self-signed certificate, as x509.genkey intends.
  const std::pair<int, const char*> extensions[] = {
      {NID_basic_constraints, "critical,CA:FALSE"}, {NID_key_usage, "digitalSignature"},
      {NID_subject_key_identifier, "hash"},         {NID_authority_key_identifier, "keyid:always"},
      {NID_ext_key_usage, "codeSigning"},
  };
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) failed(OBJ_nid2sn(nid));
    const int added = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    if (added != 1) failed(OBJ_nid2sn(nid));
  }
}

std::string pem_of_key(EVP_PKEY* key) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    failed("writing the key");
  }
  return ossl::bio_contents(bio.get());
}

std::string pem_of_cert(X509* cert) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) failed("writing the certificate");
  return ossl::bio_contents(bio.get());
}

void write_atomically(const std::filesystem::path& file, const std::string& content, mode_t mode) {
  ckms::AtomicFile out(file);  // a mkstemp file: mode 0600 until commit
  out.write(content);
  out.commit(std::nullopt, std::nullopt, mode);
}

}  // namespace

GeneratedKey generate_signing_key(const std::filesystem::path& key_file, const std::filesystem::path& cert_file,
                                  const KeygenOptions& options) {
  if (options.rsa_bits < 2048 || options.rsa_bits > 16384) {
    fail(ErrorKind::usage, "key generation: RSA key size {} is outside 2048..16384", options.rsa_bits);
  }
  if (options.days <= 0) {
    fail(ErrorKind::usage, "key generation: validity of {} days is not positive", options.days);
  }
  if (options.common_name.empty()) fail(ErrorKind::usage, "key generation: empty common name");

  ossl::PKey key(EVP_RSA_gen(static_cast<unsigned int>(options.rsa_bits)));
  if (!key) failed("RSA key generation");

  ossl::X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) failed("X509_new");
  set_random_serial(cert.get());
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), options.days, 0, nullptr) == nullptr) {
    failed("validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  add_name_entry(name, "O", options.organization);
  add_name_entry(name, "CN", options.common_name);
  if (X509_set_issuer_name(cert.get(), name) != 1 || X509_set_pubkey(cert.get(), key.get()) != 1) {
    failed("issuer and public key");
  }
  add_extensions(cert.get());
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) failed("X509_sign");

  write_atomically(key_file, pem_of_key(key.get()), 0600);
  write_atomically(cert_file, pem_of_cert(cert.get()), 0644);

  GeneratedKey result;
  result.subject = ossl::name_text(name);
  result.serial = ossl::serial_hex(X509_get0_serialNumber(cert.get()));
  const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(cert.get());
  if (skid != nullptr) {
    result.key_id = ossl::hex(ASN1_STRING_get0_data(skid), static_cast<std::size_t>(ASN1_STRING_length(skid)));
  }
  return result;
}

}  // namespace ckms::kmod
