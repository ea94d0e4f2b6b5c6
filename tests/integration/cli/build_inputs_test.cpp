// `ckms build` checks what it is given before it creates its output: a failed build leaves
// no ./ckms-out behind.

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

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
  // What a source tree cannot hold: a FIFO (which a reader would wait on), a socket, a
  // device node. One line naming it, exit 2, at once.
  const auto refused = [&](const fs::path& special, std::string_view kind) {
    testkit::write_text(dir / "src/dkms.conf", "PACKAGE_NAME=x\nPACKAGE_VERSION=1\n");
    const auto r = run_ckms_in(
        dir.path(), {"build", "src", "--kernel", "6.1.0-0-test", "--no-sign", "--cache-dir", (dir / "cache").string()});
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err == "ckms: error: " + special.string() + ": a " + std::string(kind) +
                       " in the module source; a source holds only files, directories and symlinks: remove it\n");
  };
  SECTION("a FIFO in the source") {
    fs::create_directories(dir / "src/sub");
    REQUIRE(::mkfifo((dir / "src/sub/pipe").c_str(), 0644) == 0);
    refused(dir / "src/sub/pipe", "FIFO");
  }
  SECTION("a socket in the source") {
    fs::create_directories(dir / "src");
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = (dir / "src/socket").string();
    REQUIRE(path.size() < sizeof(address.sun_path));
    path.copy(address.sun_path, path.size());
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
    ::close(fd);
    refused(dir / "src/socket", "socket");
  }
  SECTION("a device node in the source") {
    if (::geteuid() == 0) {
      fs::create_directories(dir / "src");
      REQUIRE(::mknod((dir / "src/null").c_str(), S_IFCHR | 0666, ::makedev(1, 3)) == 0);
      refused(dir / "src/null", "device node");
    }
  }
  CHECK_FALSE(fs::exists(dir / "ckms-out"));
}

TEST_CASE("a missing build image names the kernel, the reference, its template and the command that makes it") {
  testkit::TempDir dir("ckms-test-");
  // A rootful build sandbox must pass through to the cache.
  fs::permissions(dir.path(), fs::perms::others_exec, fs::perm_options::add);
  fs::create_directories(dir / "src");
  testkit::write_text(dir / "src/dkms.conf", "PACKAGE_NAME=x\nPACKAGE_VERSION=1\n");
  const fs::path cache = dir / "cache";
  const auto r = run_ckms_in(dir.path(), {"build", "src", "--kernel", "6.1.0-0-test", "--no-sign", "--cache-dir",
                                          cache.string(), "--output", "oci:" + (dir / "out").string()});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  const std::string images = (cache / "images").string();
  CHECK_THAT(r.err, Catch::Contains("6.1.0-0-test failed: no build image for kernel 6.1.0-0-test: tried oci:" + images +
                                    ":6.1.0-0-test (from the default template oci:" + images + ":{release})"));
  CHECK_THAT(r.err, Catch::Contains("make it with `ckms image build --kernel 6.1.0-0-test --toolchain-tar ROOTFS.tar "
                                    "--output oci:" +
                                    images + "`"));
}
