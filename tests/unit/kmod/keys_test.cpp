// Key generation, signing and verification together, on a module-shaped file: the
// certificate carries what the kernel's x509.genkey asks for, and sign/verify agree.

#include <catch2/catch.hpp>

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "ckms/base/error.hpp"
#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/kmod/verify.hpp"
#include "testkit.hpp"
#include "tiny_elf.hpp"

namespace fs = std::filesystem;
using namespace ckms::kmod;
using ckms::ErrorKind;

namespace {

const KeygenOptions kFast{.common_name = "unit test key", .organization = "", .days = 7, .rsa_bits = 2048};

std::unique_ptr<X509, decltype(&X509_free)> load_cert(const fs::path& file) {
  std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(file.c_str(), "r"), &std::fclose);
  REQUIRE(f);
  return {PEM_read_X509(f.get(), nullptr, nullptr, nullptr), &X509_free};
}

ckms::ErrorKind kind_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ckms::Error& e) {
    return e.kind();
  }
  FAIL("no error thrown");
  return ErrorKind::internal;
}

}  // namespace

TEST_CASE("a generated certificate is fit for module signing", "[kmod][keygen]") {
  ckms::testkit::TempDir dir("ckms-kmod-keygen");
  const GeneratedKey made = generate_signing_key(dir / "k.pem", dir / "c.pem", kFast);
  REQUIRE(made.subject == "CN = unit test key");

  struct stat st {};
  REQUIRE(::stat((dir / "k.pem").c_str(), &st) == 0);
  REQUIRE((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((dir / "c.pem").c_str(), &st) == 0);
  REQUIRE((st.st_mode & 0777) == 0644);
  REQUIRE(ckms::testkit::read_text(dir / "k.pem").starts_with("-----BEGIN PRIVATE KEY-----"));

  const auto cert = load_cert(dir / "c.pem");
  REQUIRE(cert);
  X509* x = cert.get();
  REQUIRE(X509_get_version(x) == X509_VERSION_3);
  REQUIRE(EVP_PKEY_get_base_id(X509_get0_pubkey(x)) == EVP_PKEY_RSA);
  REQUIRE(EVP_PKEY_get_bits(X509_get0_pubkey(x)) == 2048);
  REQUIRE(X509_get_signature_nid(x) == NID_sha256WithRSAEncryption);
  REQUIRE(X509_check_ca(x) == 0);
  REQUIRE(X509_get_extension_flags(x) & EXFLAG_BCONS);
  int critical = -1;
  std::unique_ptr<BASIC_CONSTRAINTS, decltype(&BASIC_CONSTRAINTS_free)> bc(
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(x, NID_basic_constraints, &critical, nullptr)),
      &BASIC_CONSTRAINTS_free);
  REQUIRE(bc);
  REQUIRE(critical == 1);
  REQUIRE(bc->ca == 0);
  REQUIRE(X509_get_key_usage(x) == KU_DIGITAL_SIGNATURE);
  REQUIRE(X509_get_extended_key_usage(x) == XKU_CODE_SIGN);
  REQUIRE(X509_get0_subject_key_id(x) != nullptr);
  REQUIRE(X509_get0_authority_key_id(x) != nullptr);
  REQUIRE(ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(x), X509_get0_authority_key_id(x)) == 0);
  // Validity: `days` from now.
  int days = 0, seconds = 0;
  REQUIRE(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(x), X509_get0_notAfter(x)) == 1);
  REQUIRE(days == 7);
  REQUIRE_FALSE(made.serial.empty());
  REQUIRE(made.key_id.size() == 40);
}

TEST_CASE("bad key generation options are usage errors", "[kmod][keygen]") {
  ckms::testkit::TempDir dir("ckms-kmod-keygen");
  KeygenOptions options = kFast;
  SECTION("small key") { options.rsa_bits = 1024; }
  SECTION("no validity") { options.days = 0; }
  SECTION("no name") { options.common_name.clear(); }
  REQUIRE(kind_of([&] { generate_signing_key(dir / "k", dir / "c", options); }) == ErrorKind::usage);
  REQUIRE_FALSE(fs::exists(dir / "k"));
}

TEST_CASE("sign and verify agree, and refuse what they must", "[kmod][sign][verify]") {
  ckms::testkit::TempDir dir("ckms-kmod-sign");
  generate_signing_key(dir / "a.key", dir / "a.crt", kFast);
  generate_signing_key(dir / "b.key", dir / "b.crt",
                       {.common_name = "other", .organization = "", .days = 1, .rsa_bits = 2048});
  const auto key = SigningKey::load(dir / "a.key", dir / "a.crt");
  REQUIRE(key.subject() == "CN = unit test key");
  const std::string module = test::tiny_elf(test::kTinyModinfo).bytes;
  const std::string signed_module = sign_module(module, key, {}, "tiny.ko");
  REQUIRE(signed_module.starts_with(module));
  REQUIRE(signed_module.ends_with(kSignatureMagic));

  const auto trust_a = TrustedCertificates::load({dir / "a.crt"});
  const auto trust_both = TrustedCertificates::load({dir / "b.crt", dir / "a.crt"});
  REQUIRE(trust_both.subjects() == std::vector<std::string>{"CN = other", "CN = unit test key"});
  REQUIRE(verify_module(signed_module, trust_a, "tiny.ko").certificate_subject == "CN = unit test key");
  REQUIRE(verify_module(signed_module, trust_both, "tiny.ko").signer.digest == "sha256");

  const auto trust_b = TrustedCertificates::load({dir / "b.crt"});
  REQUIRE(kind_of([&] { verify_module(signed_module, trust_b, "tiny.ko"); }) == ErrorKind::refused);
  REQUIRE(kind_of([&] { verify_module(module, trust_a, "tiny.ko"); }) == ErrorKind::refused);
  std::string tampered = signed_module;
  tampered[10] ^= 1;
  REQUIRE(kind_of([&] { verify_module(tampered, trust_a, "tiny.ko"); }) == ErrorKind::integrity);

  REQUIRE(kind_of([&] { sign_module(signed_module, key, {}, "tiny.ko"); }) == ErrorKind::usage);
  REQUIRE(kind_of([&] { sign_module(module, key, {.hash = "nosuchhash"}, "tiny.ko"); }) == ErrorKind::usage);
  REQUIRE(kind_of([&] { SigningKey::load(dir / "a.key", dir / "b.crt"); }) == ErrorKind::usage);
}

TEST_CASE("trusted certificate sources that hold none are usage errors", "[kmod][verify]") {
  ckms::testkit::TempDir dir("ckms-kmod-trust");
  fs::create_directory(dir / "empty");
  ckms::testkit::write_text(dir / "notes.txt", "not a certificate\n");
  REQUIRE(kind_of([&] { TrustedCertificates::load({}); }) == ErrorKind::usage);
  REQUIRE(kind_of([&] { TrustedCertificates::load({dir / "empty"}); }) == ErrorKind::usage);
  REQUIRE(kind_of([&] { TrustedCertificates::load({dir / "notes.txt"}); }) == ErrorKind::usage);
  REQUIRE(kind_of([&] { TrustedCertificates::load({dir / "missing.pem"}); }) == ErrorKind::not_found);
}
