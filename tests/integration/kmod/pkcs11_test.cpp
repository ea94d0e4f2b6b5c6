// Signing with a key that never leaves a PKCS#11 token: Debian's SoftHSM holds it, and ckms
// reaches it through a pkcs11: URI and OpenSSL's pkcs11 engine (libengine-pkcs11-openssl).
// The signed module must be the bytes the kernel's sign-file writes with the same key.
// bookworm's sign-file (linux-kbuild-6.1) takes a pkcs11: URI only through an OpenSSL
// "pkcs11" provider, which bookworm does not package, so it signs here with the key file
// the token was loaded from (RSA PKCS#1 v1.5 signatures depend on the key and data only).

#include <cstdlib>

#include <catch2/catch.hpp>

#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/sign.hpp"
#include "hello_module.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using namespace ckms::kmod;
using ckms::kmod::test::hello_module;
using ckms::kmod::test::read_bytes;
using ckms::kmod::test::run_ok;

namespace {

const fs::path kSoftHsm = "/usr/lib/softhsm/libsofthsm2.so";

// A SoftHSM token of its own in `dir` holding `key` (PKCS#8 PEM), as label "ckms-signing".
void make_token(const fs::path& dir, const fs::path& key) {
  fs::create_directories(dir / "tokens");
  ckms::testkit::write_text(dir / "softhsm2.conf",
                            "directories.tokendir = " + (dir / "tokens").string() + "\nobjectstore.backend = file\n");
  // Both ckms (in this process) and sign-file (a child) read these.
  ::setenv("SOFTHSM2_CONF", (dir / "softhsm2.conf").c_str(), 1);
  ::setenv("PKCS11_MODULE_PATH", kSoftHsm.c_str(), 1);
  run_ok({"softhsm2-util", "--init-token", "--free", "--label", "ckms", "--pin", "1234", "--so-pin", "5678"});
  run_ok({"softhsm2-util", "--import", key.string(), "--token", "ckms", "--label", "ckms-signing", "--id", "c0de",
          "--pin", "1234"});
}

}  // namespace

TEST_CASE("a module signed through a PKCS#11 token equals sign-file's through the same URI", "[kmod][sign][pkcs11]") {
  REQUIRE(ckms::testkit::have_program("softhsm2-util"));
  REQUIRE(fs::exists(kSoftHsm));
  ckms::testkit::TempDir dir("ckms-test-pkcs11");
  generate_signing_key(dir / "token.key", dir / "token.crt", {.common_name = "ckms token key", .rsa_bits = 2048});
  make_token(dir.path(), dir / "token.key");
  const std::string uri = "pkcs11:token=ckms;object=ckms-signing;type=private";
  ::setenv("KBUILD_SIGN_PIN", "1234", 1);

  const auto key = SigningKey::load(uri, dir / "token.crt");
  const std::string ours = sign_module(read_bytes(hello_module().ko), key, {}, "ckms_hello.ko");

  const fs::path copy = dir / "sign-file.ko";
  fs::copy_file(hello_module().ko, copy);
  run_ok({test::sign_file_program().string(), "sha256", (dir / "token.key").string(), (dir / "token.crt").string(),
          copy.string()});
  const std::string theirs = read_bytes(copy);
  REQUIRE(theirs.size() > fs::file_size(hello_module().ko));
  REQUIRE(ours == theirs);

  const std::string missing = "pkcs11:token=ckms;object=no-such-key;type=private";
  REQUIRE_THROWS_WITH(SigningKey::load(missing, dir / "token.crt"), Catch::Contains(missing));
  ::unsetenv("KBUILD_SIGN_PIN");
}
