// `ckms lint` reads dkms.conf as the build does and never prints what it read verbatim:
// a symlink planted as dkms.conf made it print lines of /etc/shadow.

#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "ckms/base/error.hpp"
#include "ckms/builder/lint.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;

namespace {

std::string all_messages(const ckms::builder::LintReport& report) {
  std::string out;
  for (const auto& f : report.findings) out += f.message + "\n";
  return out;
}

}  // namespace

TEST_CASE("lint refuses a dkms.conf that is a symlink and shows nothing of its target") {
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path secret = dir / "secret";
  ckms::testkit::write_text(secret, "root:$6$hash-of-the-root-password:19000:0:99999:7:::\n");
  fs::create_directories(dir / "src");
  fs::create_symlink(secret, dir / "src" / "dkms.conf");
  try {
    ckms::builder::lint(dir / "src", {});
    FAIL("a symlinked dkms.conf was read");
  } catch (const ckms::Error& e) {
    CHECK(e.kind() == ckms::ErrorKind::refused);
    CHECK_THAT(e.what(), Catch::Contains("symlink"));
    CHECK_THAT(e.what(), !Catch::Contains("hash-of-the-root-password"));
  }
}

TEST_CASE("lint refuses a dkms.conf that is not a regular file") {
  ckms::testkit::TempDir dir("ckms-test-");
  REQUIRE(::mkfifo((dir / "dkms.conf").c_str(), 0600) == 0);
  CHECK_THROWS_AS(ckms::builder::lint(dir.path(), {}), ckms::Error);
}

TEST_CASE("lint quotes input bounded and escaped: no line verbatim, no terminal escape") {
  ckms::testkit::TempDir dir("ckms-test-");
  const std::string long_word(200, 'a');
  ckms::testkit::write_text(dir / "dkms.conf",
                            "PACKAGE_NAME=x\nPACKAGE_VERSION=1\n" + long_word +
                                " with arguments\n"
                                "\x1b]0;title\x07 now\n"
                                "echo ${X:-$(cat /etc/shadow) and a long tail of text that goes on}\n");
  const auto report = ckms::builder::lint(dir.path(), {});
  const std::string messages = all_messages(report);
  INFO(messages);
  CHECK_THAT(messages, !Catch::Contains(long_word));
  CHECK_THAT(messages, Catch::Contains("(200 bytes)"));
  CHECK_THAT(messages, Catch::Contains("`\\x1b]0`") && Catch::Contains("`title\\x07`"));
  CHECK(messages.find('\x1b') == std::string::npos);
  CHECK(messages.find('\x07') == std::string::npos);
  CHECK_THAT(messages, !Catch::Contains("goes on}"));
}

TEST_CASE("lint: zero modules, BUILD_DEPENDS, computed MAKE and paths a sandbox lacks") {
  ckms::testkit::TempDir dir("ckms-test-");
  fs::create_directories(dir / "src");
  ckms::testkit::write_text(dir / "src/dkms.conf",
                            "PACKAGE_NAME=demo\nPACKAGE_VERSION=1\n"
                            "BUILD_DEPENDS=\"base-dkms\"\n"
                            "# /usr/src/in-a-comment is fine\n"
                            "MAKE=\"make -C /usr/src/linux-headers-${kernelver} M=${dkms_tree}/demo/1/build "
                            "KBUILD_EXTRA_SYMBOLS=/var/lib/dkms/base/1/build/Module.symvers\"\n"
                            "if true; then MAKE=\"$MAKE V=1\"; fi\n"
                            "CLEAN=\"make -C /usr/src/demo-1 clean; rm -f /usr/src/other-2/x\"\n");
  const auto report = ckms::builder::lint(dir / "src", {});
  const std::string messages = all_messages(report);
  INFO(messages);
  CHECK_THAT(messages, Catch::Contains("Zero modules specified."));
  CHECK_THAT(messages, Catch::Contains("BUILD_DEPENDS=`base-dkms`: build with --depends REPO:VERSION"));
  CHECK_THAT(messages, Catch::Contains("MAKE is computed by shell logic"));
  CHECK_THAT(messages, Catch::Contains("hard-coded `/usr/src/linux-headers-`: kernel headers"));
  CHECK_THAT(messages, Catch::Contains("hard-coded `/var/lib/dkms/base`"));
  CHECK_THAT(messages, Catch::Contains("holds only the Module.symvers of `base` there"));
  CHECK_THAT(messages, Catch::Contains("hard-coded `/usr/src/demo-1`: this package's source"));
  CHECK_THAT(messages, Catch::Contains("hard-coded `/usr/src/other-2`: another package's source"));
  CHECK_THAT(messages, !Catch::Contains("in-a-comment"));
  // The package's own tree under $dkms_tree is what the sandbox has.
  CHECK_THAT(messages, !Catch::Contains("/var/lib/dkms/demo"));
}
