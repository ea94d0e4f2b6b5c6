// `ckms source push|pull` and `ckms key generate` through the real ckms binary.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "artifact_testing.hpp"
#include "ckms/base/digest.hpp"
#include "ckms/kmod/sign.hpp"
#include "hello_module.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::testkit::RunResult;
using ckms::testkit::TempDir;
using ckms::testkit::write_text;

namespace {

RunResult run_ckms(std::vector<std::string> args) {
  args.insert(args.begin(), ckms::testkit::ckms_binary().string());
  return ckms::testkit::run(args);
}

nlohmann::json json_of(const RunResult& r) {
  INFO("exit " << r.exit_code << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

fs::path source_tree(const fs::path& dir) {
  fs::create_directories(dir / "src");
  write_text(dir / "dkms.conf", "PACKAGE_NAME=hello\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=hello\n");
  write_text(dir / "Makefile", "obj-m := src/hello.o\n");
  write_text(dir / "src" / "hello.c", "int x;\n");
  return dir;
}

}  // namespace

TEST_CASE("ckms source push and pull round-trip through a registry and a layout", "[artifact][cli]") {
  TempDir dir("ckms-cli-source");
  const auto tree = source_tree(dir / "tree");
  const std::string registry_ref = ckms::artifact::test::registry().host() + "/ckms/cli-source:hello-1.0";
  const std::string layout_ref = "oci:" + (dir / "layout").string() + ":hello-1.0";

  const auto to_registry = json_of(run_ckms({"--json", "source", "push", tree.string(), registry_ref, "--plain-http"}));
  const auto to_layout = json_of(run_ckms({"--json", "source", "push", tree.string(), layout_ref}));
  // Same tree, same artifact, wherever it goes.
  CHECK(to_registry["digest"] == to_layout["digest"]);
  CHECK(to_registry["sourceDigest"] == to_layout["sourceDigest"]);
  CHECK(ckms::Digest::try_parse(to_registry["digest"].get<std::string>()));

  const auto from_registry =
      json_of(run_ckms({"--json", "source", "pull", registry_ref, "-o", (dir / "a").string(), "--plain-http"}));
  CHECK(from_registry["sourceDigest"] == to_registry["sourceDigest"]);
  CHECK(from_registry["digest"] == to_registry["digest"]);
  CHECK(ckms::testkit::read_text(dir / "a" / "src" / "hello.c") == "int x;\n");
  CHECK(ckms::testkit::read_text(dir / "a" / "dkms.conf") == ckms::testkit::read_text(tree / "dkms.conf"));

  // Pushed again from the pulled copy: the same digests.
  const auto again = json_of(run_ckms({"--json", "source", "push", (dir / "a").string(), layout_ref}));
  CHECK(again["digest"] == to_layout["digest"]);

  const auto human = run_ckms({"source", "pull", layout_ref, "-o", (dir / "b").string()});
  INFO(human.err);
  REQUIRE(human.exit_code == 0);
  CHECK_THAT(human.out, Catch::Contains(to_layout["sourceDigest"].get<std::string>()));
  CHECK(fs::is_regular_file(dir / "b" / "Makefile"));
}

TEST_CASE("ckms source refuses bad input with the right exit codes", "[artifact][cli]") {
  TempDir dir("ckms-cli-source");
  fs::create_directories(dir / "no-conf");
  write_text(dir / "no-conf" / "Makefile", "obj-m := x.o\n");
  const std::string layout_ref = "oci:" + (dir / "layout").string() + ":x";

  const auto no_conf = run_ckms({"source", "push", (dir / "no-conf").string(), layout_ref});
  CHECK(no_conf.exit_code == 2);
  CHECK_THAT(no_conf.err, Catch::Contains("dkms.conf") && Catch::Contains((dir / "no-conf").string()));
  CHECK_FALSE(fs::exists(dir / "layout"));

  const auto no_tag =
      run_ckms({"source", "push", source_tree(dir / "tree").string(), "oci:" + (dir / "layout").string()});
  CHECK(no_tag.exit_code == 2);

  REQUIRE(run_ckms({"source", "push", (dir / "tree").string(), layout_ref}).exit_code == 0);
  const auto missing =
      run_ckms({"source", "pull", "oci:" + (dir / "layout").string() + ":nope", "-o", (dir / "o").string()});
  CHECK(missing.exit_code == 3);
  const auto over = run_ckms({"source", "pull", layout_ref, "-o", (dir / "tree").string()});
  CHECK(over.exit_code == 2);
  CHECK_THAT(over.err, Catch::Contains("not an empty directory"));
}

TEST_CASE("ckms key generate makes a key that signs modules as sign-file does", "[artifact][cli][key]") {
  TempDir dir("ckms-cli-key");
  const fs::path key = dir / "signing.key";
  const fs::path cert = dir / "signing.crt";
  const auto made = json_of(run_ckms({"--json", "key", "generate", "--key", key.string(), "--cert", cert.string(),
                                      "--subject", "ckms test signer", "--days", "30", "--bits", "2048"}));
  CHECK(made["subject"] == "CN = ckms test signer");
  CHECK(made["bits"] == 2048);
  struct stat st {};
  REQUIRE(::stat(key.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  const auto loaded = ckms::kmod::SigningKey::load(key, cert);
  CHECK(loaded.subject() == "CN = ckms test signer");
  const auto enddate = ckms::kmod::test::run_ok(
      {"openssl", "x509", "-in", cert.string(), "-noout", "-checkend", std::to_string(29 * 86400)});
  CHECK_THAT(enddate, Catch::Contains("will not expire"));
  CHECK(ckms::testkit::run({"openssl", "x509", "-in", cert.string(), "-noout", "-checkend", std::to_string(31 * 86400)})
            .exit_code != 0);
  const auto bits = ckms::kmod::test::run_ok({"openssl", "pkey", "-in", key.string(), "-noout", "-text"});
  CHECK_THAT(bits, Catch::Contains("2048 bit"));

  // The kernel's sign-file and ckms give the same bytes with this key.
  const auto& module = ckms::kmod::test::hello_module();
  const fs::path by_sign_file = dir / "sign-file.ko";
  fs::copy_file(module.ko, by_sign_file);
  ckms::kmod::test::run_ok(
      {ckms::kmod::test::sign_file_program().string(), "sha256", key.string(), cert.string(), by_sign_file.string()});
  const std::string ours =
      ckms::kmod::sign_module(ckms::kmod::test::read_bytes(module.ko), loaded, {}, module.ko.string());
  CHECK(ours == ckms::kmod::test::read_bytes(by_sign_file));
}

TEST_CASE("ckms key generate never overwrites a key by accident", "[artifact][cli][key]") {
  TempDir dir("ckms-cli-key");
  const fs::path key = dir / "k.key";
  const fs::path cert = dir / "k.crt";
  const std::vector<std::string> args{"key",    "generate",    "--key",  key.string(),
                                      "--cert", cert.string(), "--bits", "2048"};
  REQUIRE(run_ckms(args).exit_code == 0);
  const std::string first = ckms::testkit::read_text(key);

  const auto again = run_ckms(args);
  CHECK(again.exit_code == 2);
  CHECK_THAT(again.err, Catch::Contains(key.string()) && Catch::Contains("--force"));
  CHECK(ckms::testkit::read_text(key) == first);

  // Only the certificate exists: still refused, and no key is written.
  fs::remove(key);
  CHECK(run_ckms(args).exit_code == 2);
  CHECK_FALSE(fs::exists(key));

  auto forced = args;
  forced.push_back("--force");
  REQUIRE(run_ckms(forced).exit_code == 0);
  CHECK(ckms::testkit::read_text(key) != first);
  CHECK_NOTHROW(ckms::kmod::SigningKey::load(key, cert));

  CHECK(run_ckms({"key", "generate", "--key", (dir / "same").string(), "--cert", (dir / "same").string()}).exit_code ==
        2);
  CHECK(run_ckms(
            {"key", "generate", "--key", (dir / "x.key").string(), "--cert", (dir / "x.crt").string(), "--bits", "-5"})
            .exit_code == 2);
}
