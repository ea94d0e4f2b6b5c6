// The direct signature check (kmod/src/direct_signature.hpp) against OpenSSL's own reading
// of the same certificates and signatures: it must read the same fields, and whatever it
// accepts CMS_verify must accept too, since a node trusts its answer alone.

#include <catch2/catch.hpp>

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <functional>
#include <memory>

#include "ckms/base/error.hpp"
#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/kmod/signature.hpp"
#include "ckms/kmod/verify.hpp"
#include "direct_signature.hpp"
#include "openssl.hpp"
#include "require_error.hpp"
#include "testkit.hpp"
#include "tiny_elf.hpp"

namespace fs = std::filesystem;
using namespace ckms::kmod;

namespace {

using ossl::Deleter;
using ossl::X509Ptr;
using CmsPtr = ossl::Cms;
// sk_X509_free is a macro; this stack does not own the certificates pushed on it.
void free_stack(STACK_OF(X509) * stack) { sk_X509_free(stack); }

X509Ptr load_cert(const fs::path& file) {
  std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(file.c_str(), "r"), &std::fclose);
  REQUIRE(f);
  X509Ptr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  REQUIRE(cert);
  return cert;
}

template <typename T, typename Encode>
std::string der_of(const T* object, Encode encode) {
  unsigned char* out = nullptr;
  const int size = encode(object, &out);
  REQUIRE(size > 0);
  std::string der(reinterpret_cast<const char*>(out), static_cast<std::size_t>(size));
  OPENSSL_free(out);
  return der;
}

struct Signed {
  std::string content;
  CmsPtr cms;
  CMS_SignerInfo* signer = nullptr;
};

// A signed module's parts; no signer when its trailer or CMS does not parse.
Signed parse_signed(const std::string& module) {
  Signed out;
  std::optional<AppendedSignature> parts;
  try {
    parts = split_signature(module, "test.ko");
  } catch (const ckms::Error&) {
    return out;
  }
  REQUIRE(parts);
  out.content = std::string(parts->content);
  const auto* p = reinterpret_cast<const unsigned char*>(parts->cms_der.data());
  out.cms.reset(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(parts->cms_der.size())));
  if (out.cms) out.signer = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(out.cms.get()), 0);
  return out;
}

bool cms_verifies(Signed& s, X509* cert) {
  std::unique_ptr<STACK_OF(X509), Deleter<free_stack>> certs(sk_X509_new_null());
  sk_X509_push(certs.get(), cert);
  std::unique_ptr<BIO, Deleter<BIO_free>> content(
      BIO_new_mem_buf(s.content.data(), static_cast<int>(s.content.size())));
  return CMS_verify(s.cms.get(), certs.get(), nullptr, content.get(), nullptr,
                    CMS_BINARY | CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY) == 1;
}

}  // namespace

TEST_CASE("the direct check reads a certificate's fields as OpenSSL does", "[kmod][verify]") {
  ckms::testkit::TempDir dir("ckms-kmod-direct");
  generate_signing_key(dir / "k.pem", dir / "c.pem",
                       {.common_name = "direct", .organization = "ckms", .days = 3, .rsa_bits = 2048});
  const X509Ptr cert = load_cert(dir / "c.pem");
  const std::string der = der_of(cert.get(), i2d_X509);

  const auto fields = direct::read_fields(der);
  REQUIRE(fields);
  CHECK(fields->issuer == der_of(X509_get_issuer_name(cert.get()), i2d_X509_NAME));
  CHECK(fields->subject == der_of(X509_get_subject_name(cert.get()), i2d_X509_NAME));
  std::unique_ptr<BIGNUM, Deleter<BN_free>> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  std::string serial_bytes(static_cast<std::size_t>(BN_num_bytes(serial.get())), '\0');
  BN_bn2bin(serial.get(), reinterpret_cast<unsigned char*>(serial_bytes.data()));
  CHECK(fields->serial == serial_bytes);
  const ASN1_OCTET_STRING* key_id = X509_get0_subject_key_id(cert.get());
  REQUIRE(key_id != nullptr);
  CHECK(fields->subject_key_id == std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(key_id)),
                                              static_cast<std::size_t>(ASN1_STRING_length(key_id))));
  // For rsaEncryption the key's BIT STRING holds the RSAPublicKey DER.
  const ASN1_BIT_STRING* key = X509_get0_pubkey_bitstr(cert.get());
  REQUIRE(key != nullptr);
  CHECK(fields->rsa_public_key == std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(key)),
                                              static_cast<std::size_t>(ASN1_STRING_length(key))));

  // Every truncation is refused; no flipped byte reads past the certificate (ASan build).
  for (std::size_t size = 0; size < der.size(); ++size) {
    INFO(size);
    CHECK_FALSE(direct::read_fields(std::string_view(der).substr(0, size)));
  }
  for (std::size_t at = 0; at < der.size(); ++at) {
    std::string flipped = der;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x81);
    (void)direct::read_fields(flipped);
  }
}

TEST_CASE("the direct check accepts only what CMS_verify accepts", "[kmod][verify]") {
  ckms::testkit::TempDir dir("ckms-kmod-direct");
  generate_signing_key(dir / "a.key", dir / "a.crt",
                       {.common_name = "a", .organization = "", .days = 3, .rsa_bits = 2048});
  generate_signing_key(dir / "b.key", dir / "b.crt",
                       {.common_name = "b", .organization = "", .days = 3, .rsa_bits = 2048});
  const X509Ptr a = load_cert(dir / "a.crt");
  const auto a_fields = direct::read_fields(der_of(a.get(), i2d_X509));
  const auto b_fields = direct::read_fields(der_of(load_cert(dir / "b.crt").get(), i2d_X509));
  REQUIRE(a_fields);
  REQUIRE(b_fields);
  const auto key = SigningKey::load(dir / "a.key", dir / "a.crt");
  const std::string module = test::tiny_elf(test::kTinyModinfo).bytes;

  for (const SignOptions& options : {SignOptions{}, SignOptions{.use_key_id = true}, SignOptions{.hash = "sha384"},
                                     SignOptions{.hash = "sha512", .use_key_id = true}}) {
    INFO(options.hash << (options.use_key_id ? " by key id" : " by issuer and serial"));
    const std::string signed_module = sign_module(module, key, options, "test.ko");
    Signed good = parse_signed(signed_module);
    REQUIRE(good.signer != nullptr);
    CHECK(direct::verifies(good.signer, good.content, *a_fields));
    CHECK(cms_verifies(good, a.get()));
    CHECK_FALSE(direct::verifies(good.signer, good.content, *b_fields));

    // Any flipped byte, in the content or the signature: whatever the direct check still
    // accepts, CMS_verify must accept too.
    for (std::size_t at = 0; at < signed_module.size() - kSignatureMagic.size(); at += at < module.size() ? 97 : 1) {
      std::string tampered = signed_module;
      tampered[at] = static_cast<char>(tampered[at] ^ 0x04);
      Signed s = parse_signed(tampered);
      if (s.signer == nullptr) continue;
      if (at < module.size()) CHECK_FALSE(direct::verifies(s.signer, s.content, *a_fields));
      if (direct::verifies(s.signer, s.content, *a_fields)) {
        INFO("accepted with byte " << at << " flipped");
        CHECK(cms_verifies(s, a.get()));
      }
    }
  }
}

namespace {

// A module signed by `dir`/a.key the way sign-file does, but through `make_cms`, so a test
// can change what sign-file would not.
std::string signed_with(const fs::path& dir, const std::string& module,
                        const std::function<CMS_ContentInfo*(X509*, EVP_PKEY*, BIO*)>& make_cms) {
  const X509Ptr cert = load_cert(dir / "a.crt");
  std::unique_ptr<FILE, decltype(&std::fclose)> key_file(std::fopen((dir / "a.key").c_str(), "r"), &std::fclose);
  REQUIRE(key_file);
  const ossl::PKey key(PEM_read_PrivateKey(key_file.get(), nullptr, nullptr, nullptr));
  REQUIRE(key);
  ossl::Bio content = ossl::memory_bio(module);
  const CmsPtr cms(make_cms(cert.get(), key.get(), content.get()));
  REQUIRE(cms);
  const std::string cms_der = der_of(cms.get(), i2d_CMS_ContentInfo);
  std::string info(kSignatureInfoSize, '\0');
  info[2] = static_cast<char>(kPkeyIdPkcs7);
  info[10] = static_cast<char>(cms_der.size() >> 8);
  info[11] = static_cast<char>(cms_der.size() & 0xff);
  return module + cms_der + info + std::string(kSignatureMagic);
}

}  // namespace

TEST_CASE("signatures the kernel refuses are refused, though made with a trusted key", "[kmod][verify]") {
  ckms::testkit::TempDir dir("ckms-kmod-direct");
  generate_signing_key(dir / "a.key", dir / "a.crt",
                       {.common_name = "a", .organization = "", .days = 3, .rsa_bits = 2048});
  const auto trusted = TrustedCertificates::load({dir / "a.crt"});
  const std::string module = test::tiny_elf(test::kTinyModinfo).bytes;
  constexpr unsigned kFlags = CMS_BINARY | CMS_NOATTR | CMS_NOSMIMECAP | CMS_NOCERTS;

  // As sign-file signs: accepted, so the two cases below differ from it in one thing only.
  const std::string detached = signed_with(dir.path(), module, [&](X509* cert, EVP_PKEY* key, BIO* content) {
    return CMS_sign(cert, key, nullptr, content, kFlags | CMS_DETACHED);
  });
  CHECK(verify_module(detached, trusted, "detached.ko").certificate_subject == "CN = a");

  // Carrying the module's bytes inside as well: the kernel refuses it
  // (pkcs7_supply_detached_data); CMS_verify given the detached bytes would ignore them.
  const std::string attached = signed_with(dir.path(), module, [&](X509* cert, EVP_PKEY* key, BIO* content) {
    return CMS_sign(cert, key, nullptr, content, kFlags);
  });
  ckms::testkit::require_error([&] { (void)verify_module(attached, trusted, "attached.ko"); },
                               ckms::ErrorKind::integrity,
                               "attached.ko: malformed module signature: it carries content of its own");

  // Over content of another type than data: the kernel refuses it ("not pkcs7-data").
  const std::string typed = signed_with(dir.path(), module, [&](X509* cert, EVP_PKEY* key, BIO* content) {
    CMS_ContentInfo* cms = CMS_sign(cert, key, nullptr, nullptr, kFlags | CMS_DETACHED | CMS_PARTIAL);
    if (cms == nullptr || CMS_set1_eContentType(cms, OBJ_nid2obj(NID_pkcs7_enveloped)) != 1 ||
        CMS_final(cms, content, nullptr, kFlags | CMS_DETACHED) != 1) {
      CMS_ContentInfo_free(cms);
      return static_cast<CMS_ContentInfo*>(nullptr);
    }
    return cms;
  });
  ckms::testkit::require_error([&] { (void)verify_module(typed, trusted, "typed.ko"); }, ckms::ErrorKind::integrity,
                               "typed.ko: malformed module signature: it signs content of a type other than data");
}
