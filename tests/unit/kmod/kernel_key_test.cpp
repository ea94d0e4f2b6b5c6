// A certificate as the kernel's keyrings name it (x509_fabricate_name, the key description
// of x509_key_preparse), and matching a module's signer with its certificate.

#include <catch2/catch.hpp>

#include <cctype>

#include "ckms/base/io.hpp"
#include "ckms/kmod/kernel_key.hpp"
#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/kmod/signature.hpp"
#include "testkit.hpp"
#include "tiny_elf.hpp"

namespace fs = std::filesystem;
using namespace ckms::kmod;

namespace {

KernelKeyIdentity identity_of(const ckms::testkit::TempDir& dir, const std::string& name, const std::string& cn,
                              const std::string& o, GeneratedKey* generated = nullptr) {
  const auto made = generate_signing_key(dir / (name + ".key"), dir / (name + ".crt"),
                                         {.common_name = cn, .organization = o, .days = 7, .rsa_bits = 2048});
  if (generated != nullptr) *generated = made;
  const auto all = read_kernel_key_identities(dir / (name + ".crt"));
  REQUIRE(all.size() == 1);
  return all.front();
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

TEST_CASE("the kernel's name for a certificate: CN, or O: CN", "[kmod][kernel-key]") {
  ckms::testkit::TempDir dir("ckms-test-kernel-key");
  CHECK(identity_of(dir, "cn", "ckms module signing key", "").kernel_name == "ckms module signing key");
  CHECK(identity_of(dir, "o-cn", "Module key", "Example Org").kernel_name == "Example Org: Module key");
  // The CN starts with the O: the CN alone.
  CHECK(identity_of(dir, "prefix", "Debian Secure Boot CA", "Debian").kernel_name == "Debian Secure Boot CA");
  // The CN and the O share their first 7 characters: the CN alone.
  CHECK(identity_of(dir, "seven", "Example Signing", "Example Corporation").kernel_name == "Example Signing");
  CHECK(identity_of(dir, "six", "Exampl-key", "Exampl Corporation").kernel_name == "Exampl Corporation: Exampl-key");
}

TEST_CASE("the kernel's key id is the subject key identifier, and the DER is the certificate's", "[kmod][kernel-key]") {
  ckms::testkit::TempDir dir("ckms-test-kernel-key");
  GeneratedKey generated;
  const auto id = identity_of(dir, "key", "unit test key", "", &generated);
  REQUIRE_FALSE(generated.key_id.empty());
  CHECK(id.key_id == lower(generated.key_id));
  CHECK(id.subject_key_id == generated.key_id);
  CHECK(id.serial == generated.serial);
  CHECK(id.description() == "unit test key: " + lower(generated.key_id));
  CHECK(id.sha1_fingerprint.size() == 20 * 3 - 1);
  CHECK(id.sha256_fingerprint.size() == 32 * 3 - 1);

  // The DER read back as a certificate file names the same key.
  ckms::testkit::write_text(dir / "key.der", id.der);
  const auto again = read_kernel_key_identities(dir / "key.der");
  REQUIRE(again.size() == 1);
  CHECK(again.front().der == id.der);
  CHECK(again.front().sha256_fingerprint == id.sha256_fingerprint);
}

TEST_CASE("a module's signer is matched with its certificate by issuer and serial, or key id", "[kmod][kernel-key]") {
  ckms::testkit::TempDir dir("ckms-test-kernel-key");
  const auto mine = identity_of(dir, "mine", "signer", "");
  const auto other = identity_of(dir, "other", "signer", "");  // the same name, another key
  const auto key = SigningKey::load(dir / "mine.key", dir / "mine.crt");
  const std::string module = test::tiny_elf(test::kTinyModinfo).bytes;
  for (const bool use_key_id : {false, true}) {
    const std::string signed_module = sign_module(module, key, {.use_key_id = use_key_id}, "tiny");
    const auto signer = read_signer(split_signature(signed_module, "tiny")->cms_der, "tiny");
    CHECK(signed_by(signer, mine));
    CHECK_FALSE(signed_by(signer, other));
  }
}
