// `ckms key enroll|show|status` as a user runs them, on this host (which boots without
// UEFI, so enroll only says what to run): the DER is OpenSSL's, the key id the certificate's
// subjectKeyIdentifier as openssl prints it.

#include <cctype>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "testkit.hpp"

namespace fs = std::filesystem;

namespace {

ckms::testkit::RunResult ckms_run(const std::vector<std::string>& args) {
  std::vector<std::string> argv{ckms::testkit::ckms_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  // No mokutil to find: the test must never queue a key on the machine it runs on.
  return ckms::testkit::run(argv, {.env = {{"PATH", "/nonexistent"}}});
}

std::string openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto result = ckms::testkit::run(argv);
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  return result.out;
}

// "X509v3 Subject Key Identifier: \n    AB:CD:..." -> "abcd..."
std::string subject_key_id(const fs::path& cert) {
  const std::string text = openssl({"x509", "-in", cert.string(), "-noout", "-ext", "subjectKeyIdentifier"});
  std::string hex;
  for (const char c : text.substr(text.find('\n') + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::tolower(c));
  }
  return hex;
}

}  // namespace

TEST_CASE("ckms key enroll writes OpenSSL's DER and says what to run", "[cli][key]") {
  ckms::testkit::TempDir dir("ckms-test-key-commands");
  const fs::path cert = dir / "signing.crt";
  REQUIRE(ckms_run({"key", "generate", "--key", (dir / "signing.key").string(), "--cert", cert.string(), "--bits",
                    "2048", "--subject", "ckms enroll test"})
              .exit_code == 0);
  openssl({"x509", "-in", cert.string(), "-outform", "DER", "-out", (dir / "openssl.der").string()});
  const std::string id = subject_key_id(cert);
  REQUIRE(id.size() == 40);

  const auto dry = ckms_run({"key", "enroll", "--cert", cert.string(), "--dry-run"});
  INFO(dry.out << dry.err);
  CHECK(dry.exit_code == 0);
  CHECK_FALSE(fs::exists(dir / "signing.der"));
  CHECK_THAT(dry.out, Catch::Contains("would run: mokutil --import " + (dir / "signing.der").string()));

  const auto enrolled = ckms_run({"key", "enroll", "--cert", cert.string()});
  INFO(enrolled.out << enrolled.err);
  REQUIRE(enrolled.exit_code == 0);
  CHECK(ckms::testkit::read_text(dir / "signing.der") == ckms::testkit::read_text(dir / "openssl.der"));
  CHECK_THAT(enrolled.out, Catch::Contains("ckms enroll test: " + id + "  (as /proc/keys lists it)"));
  CHECK_THAT(enrolled.out, Catch::Contains("not enrolling here"));
  CHECK_THAT(enrolled.out, Catch::Contains("mokutil --import " + (dir / "signing.der").string()));
  CHECK_THAT(enrolled.out, Catch::Contains("Enroll MOK"));

  // Its own DER in: nothing to write, the same key.
  const auto again = ckms_run({"--json", "key", "show", "--cert", (dir / "openssl.der").string()});
  INFO(again.out << again.err);
  REQUIRE(again.exit_code == 0);
  const auto shown = nlohmann::json::parse(again.out);
  CHECK(shown.at("certificate").at("keyId") == id);
  CHECK(shown.at("certificate").at("kernelDescription") == "ckms enroll test: " + id);
  CHECK(shown.at("certificate").at("trustedForModules") == false);

  const auto pem_as_der = ckms_run({"key", "enroll", "--cert", cert.string(), "--output", cert.string()});
  CHECK(pem_as_der.exit_code == 2);
  CHECK_THAT(pem_as_der.err, Catch::Contains("is PEM"));
}

TEST_CASE("ckms key status reports the kernel's policy and ckms's certificates", "[cli][key]") {
  ckms::testkit::TempDir dir("ckms-test-key-commands");
  const fs::path cert = dir / "trusted.crt";
  REQUIRE(ckms_run({"key", "generate", "--key", (dir / "trusted.key").string(), "--cert", cert.string(), "--bits",
                    "2048", "--subject", "ckms status test"})
              .exit_code == 0);
  const auto status = ckms_run({"--json", "key", "status", "--trust", cert.string()});
  INFO(status.out << status.err);
  REQUIRE(status.exit_code == 0);
  const auto report = nlohmann::json::parse(status.out);
  CHECK(report.at("kernel").contains("enforced"));
  REQUIRE(report.at("certificates").size() == 1);
  CHECK(report.at("certificates")[0].at("keyId") == subject_key_id(cert));
  CHECK(report.at("certificates")[0].at("trustedForModules") == false);
}
