// The two binaries (docs/architecture.md): `ckms` runs the node's cache-only commands itself,
// is static and holds none of the registry, archive or build code, and hands everything else to
// ckms-full, found beside it in a build tree or in ../libexec/ckms once installed.
#include <sys/utsname.h>

#include <catch2/catch.hpp>

#include "loader_fixture.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::testkit::run;
using ckms::testkit::RunResult;
using ckms::testkit::TempDir;

namespace {

const fs::path kNode = ckms::testkit::ckms_binary();
const fs::path kFull = kNode.parent_path() / "ckms-full";

fs::path install(const fs::path& binary, const fs::path& where) {
  fs::create_directories(where.parent_path());
  fs::copy_file(binary, where);
  fs::permissions(where, fs::perms(0755));
  return where;
}

}  // namespace

TEST_CASE("the node binary is static and holds no registry, archive, YAML or kmod code") {
  const RunResult headers = run({"readelf", "--program-headers", "--wide", kNode.string()});
  REQUIRE(headers.exit_code == 0);
  INFO(headers.out);
  CHECK(headers.out.find("Elf file type is EXEC") != std::string::npos);
  CHECK(headers.out.find("INTERP") == std::string::npos);
  CHECK(headers.out.find("DYNAMIC") == std::string::npos);

  const RunResult symbols = run({"nm", "--defined-only", kNode.string()});
  REQUIRE(symbols.exit_code == 0);
  CHECK(symbols.out.find(" RSA_public_decrypt\n") != std::string::npos);
  for (const char* symbol : {" curl_easy_init\n", " archive_read_new\n", " kmod_new\n", "_ZN4YAML"}) {
    INFO(symbol);
    CHECK(symbols.out.find(symbol) == std::string::npos);
  }
}

TEST_CASE("commands beyond the node's are handed to ckms-full with the same arguments and exit code") {
  const RunResult help = run({kNode.string(), "copy", "--help"});
  REQUIRE(help.exit_code == 0);
  CHECK(help.out.find("Usage: ckms copy") != std::string::npos);

  const RunResult bad = run({kNode.string(), "copy", "not a reference", "oci:/nonexistent"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("invalid reference 'not a reference'") != std::string::npos);

  // An online load is ckms-full's: only it has a registry client, so a closed port giving
  // the network exit code (7) shows the hand-over happened.
  TempDir dir("ckms-test-");
  const RunResult key = run({kNode.string(), "key", "generate", "--key", (dir / "key.pem").string(), "--cert",
                             (dir / "cert.pem").string(), "--bits", "2048"});
  REQUIRE(key.exit_code == 0);
  const RunResult online =
      run({kNode.string(), "load", "127.0.0.1:1/ckms/none:1.0", "--plain-http", "--trust", (dir / "cert.pem").string(),
           "--cache-dir", (dir / "cache").string(), "--state-dir", (dir / "state").string()});
  INFO(online.err);
  CHECK(online.exit_code == 7);
}

TEST_CASE("installed, ckms finds ckms-full in ../libexec/ckms; without it, it says what is missing") {
  TempDir prefix("ckms-test-");
  const fs::path node = install(kNode, prefix / "bin" / "ckms");
  install(kFull, prefix / "libexec" / "ckms" / "ckms-full");
  const RunResult copy_help = run({node.string(), "copy", "--help"});
  CHECK(copy_help.exit_code == 0);

  fs::remove(prefix / "libexec" / "ckms" / "ckms-full");
  const RunResult missing = run({node.string(), "copy", "--help"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("needs ckms-full") != std::string::npos);
  CHECK(missing.err.find((prefix / "libexec" / "ckms" / "ckms-full").string()) != std::string::npos);

  // The node's own commands need nothing else.
  const RunResult version = run({node.string(), "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.starts_with("ckms "));
  const RunResult status = run({node.string(), "--json", "status", "--state-dir", (prefix / "state").string(),
                                "--cache-dir", (prefix / "cache").string()});
  INFO(status.err);
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("\"modules\"") != std::string::npos);
}

TEST_CASE("an offline load whose in-tree dependency is not loaded goes to ckms-full, which has libkmod") {
  // Published for this host's kernel, so that the node binary gets as far as planning it.
  struct utsname host {};
  REQUIRE(::uname(&host) == 0);
  const std::string release = host.release;
  ckms::loader::test::LoaderFixture f;
  f.publish("ckms-needs", {{.name = "ckms_needs", .built_for = release, .depends = {"ckms_not_in_any_kernel"}}}, {},
            release);
  const std::string reference = "oci:" + f.source("ckms-needs").string() + ":1.0.0";
  const std::string trust = ckms::loader::test::keys().trusted_cert.string();
  const RunResult fetched = run({kFull.string(), "load", reference, "--fetch-only", "--kernel", release, "--trust",
                                 trust, "--cache-dir", f.paths.cache_dir.string()});
  INFO(fetched.err);
  REQUIRE(fetched.exit_code == 0);

  TempDir prefix("ckms-test-");
  const fs::path node = install(kNode, prefix / "bin" / "ckms");
  const std::vector<std::string> offline = {"load",
                                            reference,
                                            "--offline",
                                            "--trust",
                                            trust,
                                            "--cache-dir",
                                            f.paths.cache_dir.string(),
                                            "--state-dir",
                                            (prefix / "state").string(),
                                            "--modules-dir",
                                            (prefix / "modules").string()};
  std::vector<std::string> alone = {node.string()};
  alone.insert(alone.end(), offline.begin(), offline.end());
  const RunResult without_full = run(alone);
  CHECK(without_full.exit_code == 1);
  CHECK(without_full.err.find("inserting ckms_not_in_any_kernel (for ckms_needs)") != std::string::npos);
  CHECK(without_full.err.find("needs ckms-full") != std::string::npos);

  // Beside ckms-full the same command is planned with libkmod, which finds no such module.
  install(kFull, prefix / "libexec" / "ckms" / "ckms-full");
  const RunResult with_full = run(alone);
  INFO(with_full.err);
  CHECK(with_full.exit_code == 5);
  CHECK(with_full.err.find("missing dependency: module ckms_needs needs ckms_not_in_any_kernel") != std::string::npos);
}
