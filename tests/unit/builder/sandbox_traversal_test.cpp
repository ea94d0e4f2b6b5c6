// A rootful sandbox's root is an unprivileged host uid: a --cache-dir below a directory it
// cannot pass through (a 0700 home, a `mktemp -d` dir) would fail in runc with "permission
// denied"; ckms names the directory first.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/builder/sandbox_bundle.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder;

namespace {

constexpr uid_t kSandboxUid = 165536;  // no file here is owned by it or its group
constexpr gid_t kSandboxGid = 165536;

}  // namespace

TEST_CASE("sandbox traversal: the first directory on the way that the sandbox uid cannot pass") {
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path closed = dir / "home";
  fs::create_directories(closed / "cache");
  ::chmod(dir.path().c_str(), 0755);
  ::chmod(closed.c_str(), 0700);
  CHECK(untraversable_directory(closed / "cache" / "not-yet-made", kSandboxUid, kSandboxGid) == closed);
  ::chmod(closed.c_str(), 0711);
  CHECK_FALSE(untraversable_directory(closed / "cache" / "not-yet-made", kSandboxUid, kSandboxGid));
  // Group x counts only for the sandbox's own group; owner x only for its own uid.
  ::chmod(closed.c_str(), 0710);
  CHECK(untraversable_directory(closed / "cache", kSandboxUid, kSandboxGid) == closed);
  CHECK_FALSE(untraversable_directory(closed / "cache", kSandboxUid, ::getegid()));
}

TEST_CASE("sandbox traversal: refused in one line naming the directory and the fix, rootful only") {
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path closed = dir / "home";
  fs::create_directories(closed);
  ::chmod(dir.path().c_str(), 0755);
  ::chmod(closed.c_str(), 0700);
  SandboxSpec rootful;
  rootful.mode = SandboxMode::rootful;
  try {
    require_sandbox_traversal(rootful, closed / "cache", "--cache-dir");
    FAIL("a cache dir below a 0700 directory was accepted");
  } catch (const ckms::Error& e) {
    CHECK(e.kind() == ckms::ErrorKind::usage);
    CHECK_THAT(e.what(), Catch::Contains("cannot pass through " + closed.string()));
    CHECK_THAT(e.what(), Catch::Contains("setfacl -m u:165536:x " + closed.string()));
  }
  SandboxSpec rootless;
  rootless.mode = SandboxMode::rootless;
  CHECK_NOTHROW(require_sandbox_traversal(rootless, closed / "cache", "--cache-dir"));
}
