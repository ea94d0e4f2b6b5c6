// Verification accepts exactly the modules signed by a trusted certificate, unchanged.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/kmod/compress.hpp"
#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/kmod/verify.hpp"
#include "hello_module.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using namespace ckms::kmod;
using ckms::ErrorKind;
using ckms::kmod::test::hello_module;
using ckms::kmod::test::read_bytes;

namespace {

struct Fixture {
  ckms::testkit::TempDir dir{"ckms-kmod-verify"};
  std::string module = read_bytes(hello_module().ko);
  test::KeyPair trusted_pair = test::openssl_req_key(dir.path(), "trusted", 2048);
  test::KeyPair other_pair = test::openssl_req_key(dir.path(), "other", 2048);
  SigningKey trusted_key = SigningKey::load(trusted_pair.key, trusted_pair.cert);
  std::string signed_module = sign_module(module, trusted_key, {}, "ckms_hello.ko");
  TrustedCertificates trust = TrustedCertificates::load({trusted_pair.cert});
};

// Runs verify_module and returns the error it throws (failing the test if it does not).
ckms::Error refusal(const std::string& module, const TrustedCertificates& trust) {
  try {
    verify_module(module, trust, "ckms_hello.ko");
  } catch (const ckms::Error& e) {
    return e;
  }
  FAIL("verify_module accepted the module");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("a module signed by a trusted certificate verifies", "[kmod][verify]") {
  Fixture f;
  const Verified v = verify_module(f.signed_module, f.trust, "ckms_hello.ko");
  REQUIRE(v.certificate_subject == "CN = trusted");
  REQUIRE(v.signer.signer_name == "trusted");
  REQUIRE(v.signer.digest == "sha256");

  SECTION("also when signed with -k (subject key identifier)") {
    const std::string by_key_id = sign_module(f.module, f.trusted_key, {.hash = "sha256", .use_key_id = true}, "m");
    REQUIRE_FALSE(verify_module(by_key_id, f.trust, "m").signer.key_id.empty());
  }
  SECTION("also when compressed, and from a directory of certificates") {
    fs::create_directory(f.dir / "trust.d");
    fs::copy_file(f.other_pair.cert, f.dir / "trust.d" / "a-other.pem");
    ckms::testkit::run({"openssl", "x509", "-in", f.trusted_pair.cert.string(), "-outform", "DER", "-out",
                        (f.dir / "trust.d" / "b-trusted.der").string()});
    const auto from_dir = TrustedCertificates::load({f.dir / "trust.d"});
    REQUIRE(from_dir.size() == 2);
    for (const Compression c : {Compression::xz, Compression::zstd}) {
      const std::string packed = compress(f.signed_module, c, "m");
      REQUIRE(verify_module(packed, from_dir, "m").certificate_subject == "CN = trusted");
    }
  }
  SECTION("also when signed by the kernel's sign-file") {
    const fs::path copy = f.dir / "by-sign-file.ko";
    fs::copy_file(hello_module().ko, copy);
    test::run_ok({test::sign_file_program().string(), "sha512", f.trusted_pair.key.string(),
                  f.trusted_pair.cert.string(), copy.string()});
    REQUIRE(verify_module_file(copy, f.trust).signer.digest == "sha512");
  }
}

TEST_CASE("verification refuses what it must", "[kmod][verify]") {
  Fixture f;

  SECTION("a module signed by another key") {
    const auto other = SigningKey::load(f.other_pair.key, f.other_pair.cert);
    const ckms::Error e = refusal(sign_module(f.module, other, {}, "m"), f.trust);
    REQUIRE(e.kind() == ErrorKind::refused);
    REQUIRE_THAT(e.what(), Catch::Contains("ckms_hello.ko") && Catch::Contains("CN = other") &&
                               Catch::Contains("none of the 1 trusted"));
  }
  SECTION("an unsigned module") {
    const ckms::Error e = refusal(f.module, f.trust);
    REQUIRE(e.kind() == ErrorKind::refused);
    REQUIRE_THAT(e.what(), Catch::Contains("ckms_hello.ko") && Catch::Contains("not signed"));
  }
  SECTION("one flipped byte in the module content") {
    std::string tampered = f.signed_module;
    tampered[tampered.size() / 3] ^= 0x01;
    const ckms::Error e = refusal(tampered, f.trust);
    REQUIRE(e.kind() == ErrorKind::integrity);
    REQUIRE_THAT(e.what(), Catch::Contains("does not match the module's content"));
  }
  SECTION("one flipped byte in the signature value") {
    std::string tampered = f.signed_module;
    // The RSA signature value ends the CMS, just before the 12-byte trailer and the magic.
    tampered[tampered.size() - kSignatureMagic.size() - kSignatureInfoSize - 10] ^= 0x01;
    const ckms::Error e = refusal(tampered, f.trust);
    REQUIRE(e.kind() == ErrorKind::integrity);
    REQUIRE_THAT(e.what(), Catch::Contains("does not match the module's content"));
  }
  SECTION("a truncated signature") {
    const std::size_t tail = kSignatureInfoSize + kSignatureMagic.size();
    const std::string trailer = f.signed_module.substr(f.signed_module.size() - tail);
    // Drop 40 bytes of the CMS but keep sig_len: it now reaches into the module.
    std::string truncated = f.signed_module.substr(0, f.signed_module.size() - tail - 40) + trailer;
    const ckms::Error e = refusal(truncated, f.trust);
    REQUIRE(e.kind() == ErrorKind::integrity);
    REQUIRE_THAT(e.what(), Catch::Contains("malformed module signature"));
  }
  SECTION("a signature cut short, trailer and all") {
    const ckms::Error e = refusal(f.signed_module.substr(0, f.signed_module.size() - 5), f.trust);
    REQUIRE(e.kind() == ErrorKind::refused);  // no magic left: indistinguishable from unsigned
  }
}

TEST_CASE("hostile variants of a real signed module fail cleanly", "[kmod][verify][modinfo]") {
  Fixture f;
  const std::string& good = f.signed_module;
  std::size_t tried = 0;
  std::size_t refused = 0;
  // Truncations at many points and single flipped bytes across the whole file: every one
  // must be refused with a ckms::Error, and modinfo must parse or fail cleanly (the suite
  // also runs under ASan).
  for (std::size_t i = 1; i < good.size(); i += good.size() / 97) {
    std::string flipped = good;
    flipped[i] ^= 0x5a;
    for (const std::string& variant : {good.substr(0, i), flipped}) {
      ++tried;
      try {
        verify_module(variant, f.trust, "variant.ko");
      } catch (const ckms::Error&) {
        ++refused;
      }
      try {
        read_modinfo(variant, "variant.ko");
      } catch (const ckms::Error&) {
      }
    }
  }
  REQUIRE(tried >= 2 * 97);
  REQUIRE(refused == tried);
}
