#include <fcntl.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "ckms/base/error.hpp"
#include "ckms/oci/layer_path.hpp"
#include "require_error.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::BeneathRoot;
using ckms::ResolveStrategy;
using ckms::oci::normalize_entry_name;

namespace {

ckms::ErrorKind kind_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ckms::Error& e) {
    return e.kind();
  }
  return ckms::ErrorKind::internal;
}

}  // namespace

TEST_CASE("entry names are normalised only where tar's own conventions allow") {
  CHECK(normalize_entry_name("a/b", 4096, "t") == "a/b");
  CHECK(normalize_entry_name("./a/b/", 4096, "t") == "a/b");
  CHECK(normalize_entry_name("/abs/x", 4096, "t") == "abs/x");
  CHECK(normalize_entry_name("./", 4096, "t").empty());
  CHECK(normalize_entry_name(".", 4096, "t").empty());
  CHECK(normalize_entry_name("..a/b..", 4096, "t") == "..a/b..");
}

TEST_CASE("entry names that climb or alias are refused with the entry named") {
  for (const char* bad : {"..", "../x", "a/../../x", "a/..", "a/./b", "a//b", "./../x", "/.."}) {
    ckms::testkit::require_error([&] { normalize_entry_name(bad, 4096, std::string("layer L: entry '") + bad + "'"); },
                                 ckms::ErrorKind::refused, bad);
  }
  CHECK(kind_of([] { normalize_entry_name(std::string(300, 'a'), 4096, "t"); }) == ckms::ErrorKind::refused);
  CHECK(kind_of([] { normalize_entry_name(std::string(5000, 'a'), 4096, "t"); }) == ckms::ErrorKind::refused);
  CHECK(kind_of([] { normalize_entry_name(std::string("a\0b", 3), 4096, "t"); }) == ckms::ErrorKind::refused);
}

TEST_CASE("directories resolve beneath the root, through inner symlinks only") {
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path root = dir / "root";
  fs::create_directories(root / "usr/lib");
  fs::create_directories(dir / "outside");
  fs::create_symlink("usr/lib", root / "lib");
  fs::create_symlink(dir / "outside", root / "abs");
  fs::create_symlink("../outside", root / "up");
  fs::create_symlink("../../..", root / "usr/lib/climb");

  for (const ResolveStrategy strategy : {ResolveStrategy::openat2, ResolveStrategy::component_walk}) {
    if (strategy == ResolveStrategy::openat2 && !ckms::kernel_has_openat2()) continue;
    BeneathRoot beneath(root, strategy);
    CHECK(beneath.open_directory("usr/lib", false, "t"));
    CHECK_FALSE(beneath.open_directory("missing", false, "t"));
    CHECK(beneath.open_directory("new/deep/dir", true, "t"));
    CHECK(fs::is_directory(root / "new/deep/dir"));
    for (const char* escape : {"abs", "up", "usr/lib/climb", "abs/x", "up/x/y"}) {
      INFO("strategy " << static_cast<int>(strategy) << " path " << escape);
      CHECK(kind_of([&] { beneath.open_directory(escape, true, "t"); }) == ckms::ErrorKind::refused);
    }
    // The inner link is followed by openat2 and refused by the stricter component walk.
    if (strategy == ResolveStrategy::openat2) {
      CHECK(beneath.open_directory("lib", false, "t"));
    } else {
      CHECK(kind_of([&] { beneath.open_directory("lib", false, "t"); }) == ckms::ErrorKind::refused);
    }
    CHECK(kind_of([&] { beneath.open_directory_readable("lib", false, "t"); }) == ckms::ErrorKind::refused);
  }
  CHECK(fs::is_empty(dir / "outside"));
}

TEST_CASE("remove_tree_at removes read-only trees without following symlinks") {
  ckms::testkit::TempDir dir("ckms-test-");
  fs::create_directories(dir / "keep");
  ckms::testkit::write_text(dir / "keep/file", "x");
  fs::create_directories(dir / "t/ro/sub");
  ckms::testkit::write_text(dir / "t/ro/sub/f", "y");
  fs::create_symlink(dir / "keep", dir / "t/ro/link");
  fs::permissions(dir / "t/ro/sub", fs::perms::owner_read | fs::perms::owner_exec);
  fs::permissions(dir / "t/ro", fs::perms::owner_read | fs::perms::owner_exec);
  const ckms::UniqueFd fd(::open(dir.path().c_str(), O_PATH | O_DIRECTORY));
  ckms::remove_tree_at(fd.get(), "t", "t");
  CHECK_FALSE(fs::exists(dir / "t"));
  CHECK(fs::exists(dir / "keep/file"));
  ckms::remove_tree_at(fd.get(), "t", "t");  // missing is fine
}
