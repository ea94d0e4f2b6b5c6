// UnpackCache with real processes: two racing on one key, and a filler killed midway.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "ckms/base/digest.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/layer_cache.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::oci::UnpackCache;

namespace {

const ckms::Digest kManifest = ckms::digest_of("manifest");

int staging_dirs(const fs::path& root) {
  int count = 0;
  for (const auto& item : fs::recursive_directory_iterator(root)) {
    if (item.path().filename().string().find(".staging.") != std::string::npos) ++count;
  }
  return count;
}

void append_line(const fs::path& file, const std::string& line) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  (void)!::write(fd, line.data(), line.size());
  ::close(fd);
}

}  // namespace

TEST_CASE("two processes racing on one key fill it once and both get the entry") {
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path fills = dir / "fills";
  pid_t children[2];
  for (pid_t& child : children) {
    child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      int status = 1;
      try {
        UnpackCache cache(dir / "cache");
        const fs::path tree = cache.ensure(kManifest, [&](const fs::path& staging) {
          append_line(fills, std::to_string(::getpid()) + "\n");
          std::this_thread::sleep_for(std::chrono::milliseconds(400));
          ckms::testkit::write_text(staging / "file", "filled");
        });
        status = ckms::testkit::read_text(tree / "file") == "filled" ? 0 : 2;
      } catch (...) {
        status = 3;
      }
      ::_exit(status);
    }
  }
  for (const pid_t child : children) {
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  const std::string lines = ckms::testkit::read_text(fills);
  CHECK(std::count(lines.begin(), lines.end(), '\n') == 1);
  UnpackCache cache(dir / "cache");
  REQUIRE(cache.find(kManifest));
  CHECK(ckms::testkit::read_text(*cache.find(kManifest) / "file") == "filled");
  CHECK(staging_dirs(dir / "cache") == 0);
}

TEST_CASE("a filler killed midway leaves a staging directory the next ensure removes") {
  ckms::testkit::TempDir dir("ckms-test-");
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(ready[0]);
    UnpackCache cache(dir / "cache");
    cache.ensure(kManifest, [&](const fs::path& staging) {
      ckms::testkit::write_text(staging / "half", "written");
      (void)!::write(ready[1], "x", 1);
      ::pause();
    });
    ::_exit(0);
  }
  ::close(ready[1]);
  char byte = 0;
  REQUIRE(::read(ready[0], &byte, 1) == 1);
  ::close(ready[0]);
  ::kill(child, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));

  UnpackCache cache(dir / "cache");
  CHECK_FALSE(cache.find(kManifest));
  CHECK(staging_dirs(dir / "cache") == 1);
  const fs::path tree =
      cache.ensure(kManifest, [](const fs::path& staging) { ckms::testkit::write_text(staging / "whole", "done"); });
  CHECK(staging_dirs(dir / "cache") == 0);
  CHECK(fs::exists(tree / "whole"));
  CHECK_FALSE(fs::exists(tree / "half"));
  CHECK(cache.find(kManifest) == tree);
}

TEST_CASE("a filler that throws leaves no entry and the error reaches the caller") {
  ckms::testkit::TempDir dir("ckms-test-");
  UnpackCache cache(dir / "cache");
  CHECK_THROWS_AS(
      cache.ensure(kManifest,
                   [](const fs::path&) { throw ckms::Error(ckms::ErrorKind::integrity, "layer digest mismatch"); }),
      ckms::Error);
  CHECK_FALSE(cache.find(kManifest));
  CHECK(staging_dirs(dir / "cache") == 0);
  int calls = 0;
  const auto fill = [&](const fs::path& staging) {
    ++calls;
    ckms::testkit::write_text(staging / "f", "1");
  };
  const fs::path first = cache.ensure(kManifest, fill);
  const fs::path second = cache.ensure(kManifest, fill);
  CHECK(first == second);
  CHECK(calls == 1);
}

TEST_CASE("the cache root lets in only its owner and the sandbox's group") {
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path root = dir / "cache";
  fs::create_directories(root);
  fs::permissions(root, fs::perms::all);  // an older ckms, or a umask of 000, left it open
  { UnpackCache cache(root); }
  struct stat st {};
  REQUIRE(::stat(root.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  if (::geteuid() != 0) return;

  { UnpackCache cache(root, 165536); }
  REQUIRE(::stat(root.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0710);
  CHECK(st.st_gid == 165536u);

  // Another user's directory could have been filled with anything: refused, not reused.
  REQUIRE(::chown(root.c_str(), 65534, 65534) == 0);
  try {
    UnpackCache cache(root, 165536);
    FAIL("a cache root owned by another user was accepted");
  } catch (const ckms::Error& e) {
    CHECK(e.kind() == ckms::ErrorKind::refused);
    CHECK_THAT(e.what(), Catch::Contains("owned by uid 65534"));
  }
}
