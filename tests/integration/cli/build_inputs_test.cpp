// `ckms build` checks what it is given before it creates its output: a failed build leaves
// no ./ckms-out behind.

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "testkit.hpp"

namespace fs = std::filesystem;
namespace testkit = ckms::testkit;

namespace {

testkit::RunResult run_ckms_in(const fs::path& cwd, std::vector<std::string> args) {
  args.insert(args.begin(), testkit::ckms_binary().string());
  return testkit::run(args, {.cwd = cwd});
}

}  // namespace

TEST_CASE("a build that cannot start creates no output layout") {
  testkit::TempDir dir("ckms-test-");
  SECTION("a missing source") {
    const auto r = run_ckms_in(dir.path(), {"build", "no-such-source", "--kernel", "6.1.0-0-test", "--no-sign",
                                            "--cache-dir", (dir / "cache").string()});
    INFO(r.err);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, Catch::Contains("no-such-source"));
  }
  SECTION("a key that does not match its certificate") {
    for (const char* name : {"a", "b"}) {
      const auto made = run_ckms_in(dir.path(), {"key", "generate", "--key", std::string(name) + ".key", "--cert",
                                                 std::string(name) + ".crt", "--bits", "2048"});
      REQUIRE(made.exit_code == 0);
    }
    fs::create_directories(dir / "src");
    testkit::write_text(dir / "src/dkms.conf", "PACKAGE_NAME=x\nPACKAGE_VERSION=1\n");
    const auto r = run_ckms_in(dir.path(), {"build", "src", "--kernel", "6.1.0-0-test", "--sign-key", "a.key",
                                            "--sign-cert", "b.crt", "--cache-dir", (dir / "cache").string()});
    INFO(r.err);
    CHECK(r.exit_code != 0);
  }
  CHECK_FALSE(fs::exists(dir / "ckms-out"));
}
