// Signing must give the same bytes as the kernel's own scripts/sign-file.

#include <cctype>

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/kmod/signature.hpp"
#include "hello_module.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using namespace ckms::kmod;
using ckms::kmod::test::hello_module;
using ckms::kmod::test::read_bytes;
using ckms::kmod::test::run_ok;

namespace {

// sign-file's output for a copy of the hello module.
std::string sign_with_sign_file(const fs::path& dir, const fs::path& key, const fs::path& cert, const std::string& hash,
                                bool key_id = false) {
  const fs::path copy = dir / ("sign-file-" + hash + (key_id ? "-k" : "") + ".ko");
  fs::copy_file(hello_module().ko, copy, fs::copy_options::overwrite_existing);
  std::vector<std::string> argv{test::sign_file_program().string()};
  if (key_id) argv.push_back("-k");
  for (const auto& arg : {hash, key.string(), cert.string(), copy.string()}) argv.push_back(arg);
  run_ok(argv);
  return read_bytes(copy);
}

}  // namespace

TEST_CASE("signatures equal sign-file's byte for byte", "[kmod][sign]") {
  ckms::testkit::TempDir dir("ckms-kmod-sign");
  const std::string module = read_bytes(hello_module().ko);

  SECTION("key made by generate_signing_key, sha256") {
    generate_signing_key(dir / "ckms.key", dir / "ckms.crt");
    const auto key = SigningKey::load(dir / "ckms.key", dir / "ckms.crt");
    const std::string ours = sign_module(module, key, {}, "ckms_hello.ko");
    const std::string theirs = sign_with_sign_file(dir.path(), dir / "ckms.key", dir / "ckms.crt", "sha256");
    REQUIRE(ours.size() == theirs.size());
    REQUIRE(ours == theirs);
    REQUIRE(ours.starts_with(module));
  }

  SECTION("key made by openssl req, sha256, sha512 and -k") {
    const auto pair = test::openssl_req_key(dir.path(), "openssl-req-key", 2048);
    const auto key = SigningKey::load(pair.key, pair.cert);
    REQUIRE(sign_module(module, key, {}, "m") == sign_with_sign_file(dir.path(), pair.key, pair.cert, "sha256"));
    REQUIRE(sign_module(module, key, {.hash = "sha512"}, "m") ==
            sign_with_sign_file(dir.path(), pair.key, pair.cert, "sha512"));
    REQUIRE(sign_module(module, key, {.hash = "sha256", .use_key_id = true}, "m") ==
            sign_with_sign_file(dir.path(), pair.key, pair.cert, "sha256", true));
  }

  SECTION("a DER certificate signs the same as its PEM") {
    const auto pair = test::openssl_req_key(dir.path(), "der-key", 2048);
    run_ok({"openssl", "x509", "-in", pair.cert.string(), "-outform", "DER", "-out", (dir / "der-key.der").string()});
    const auto pem = SigningKey::load(pair.key, pair.cert);
    const auto der = SigningKey::load(pair.key, dir / "der-key.der");
    REQUIRE(sign_module(module, der, {}, "m") == sign_module(module, pem, {}, "m"));
  }
}

TEST_CASE("sign_module_file signs in place like sign-file", "[kmod][sign]") {
  ckms::testkit::TempDir dir("ckms-kmod-sign");
  const auto pair = test::openssl_req_key(dir.path(), "in-place", 2048);
  const fs::path copy = dir / "ckms_hello.ko";
  fs::copy_file(hello_module().ko, copy);
  sign_module_file(copy, SigningKey::load(pair.key, pair.cert));
  REQUIRE(read_bytes(copy) == sign_with_sign_file(dir.path(), pair.key, pair.cert, "sha256"));
  REQUIRE_THROWS_WITH(sign_module_file(copy, SigningKey::load(pair.key, pair.cert)),
                      Catch::Contains(copy.string()) && Catch::Contains("already signed"));
}

TEST_CASE("an already signed module is refused, and re-signed only after stripping", "[kmod][sign]") {
  ckms::testkit::TempDir dir("ckms-kmod-sign");
  const auto pair = test::openssl_req_key(dir.path(), "twice", 2048);
  const auto key = SigningKey::load(pair.key, pair.cert);
  const std::string module = read_bytes(hello_module().ko);
  const std::string once = sign_module(module, key, {}, "ckms_hello.ko");
  try {
    sign_module(once, key, {}, "ckms_hello.ko");
    FAIL("signing a signed module succeeded");
  } catch (const ckms::Error& e) {
    REQUIRE(e.kind() == ckms::ErrorKind::usage);
    REQUIRE_THAT(e.what(), Catch::Contains("ckms_hello.ko") && Catch::Contains("already signed"));
  }
  REQUIRE(strip_signature(once, "m") == module);
  REQUIRE(sign_module(strip_signature(once, "m"), key, {}, "m") == once);
}

TEST_CASE("the signer read from a signature matches kmod's modinfo", "[kmod][signature]") {
  ckms::testkit::TempDir dir("ckms-kmod-sign");
  generate_signing_key(dir / "s.key", dir / "s.crt",
                       {.common_name = "ckms test signer", .organization = "ckms tests", .days = 30, .rsa_bits = 2048});
  const fs::path copy = dir / "ckms_hello.ko";
  fs::copy_file(hello_module().ko, copy);
  sign_module_file(copy, SigningKey::load(dir / "s.key", dir / "s.crt"));

  const std::string bytes = read_bytes(copy);
  const auto parts = split_signature(bytes, copy.string());
  REQUIRE(parts.has_value());
  REQUIRE(parts->content == read_bytes(hello_module().ko));
  const SignerId signer = read_signer(parts->cms_der, copy.string());

  const auto field = [&](const std::string& name) {
    std::string out = run_ok({"modinfo", "-F", name, copy.string()});
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  };
  // modinfo wraps sig_key over lines and separates its bytes with ':'.
  std::string sig_key;
  for (const char c : field("sig_key")) {
    if (std::isxdigit(static_cast<unsigned char>(c))) sig_key += c;
  }
  REQUIRE(signer.signer_name == "ckms test signer");
  REQUIRE(field("signer") == signer.signer_name);
  REQUIRE(signer.serial == sig_key);
  REQUIRE(signer.digest == field("sig_hashalgo"));
  REQUIRE(signer.digest == "sha256");
  REQUIRE_THAT(signer.issuer, Catch::Contains("CN = ckms test signer") && Catch::Contains("O = ckms tests"));
  REQUIRE(signer.key_id.empty());
}
