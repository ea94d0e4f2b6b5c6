#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "ckms/base/temp_dir.hpp"

namespace fs = std::filesystem;

TEST_CASE("a TempDir is private and goes with everything in it, also what is unwritable", "[temp_dir]") {
  const ckms::TempDir parent("ckms-base-test-");
  fs::path made;
  {
    const ckms::TempDir dir("work-", parent.path());
    made = dir.path();
    CHECK(made.parent_path() == parent.path());
    CHECK(made.filename().string().starts_with("work-"));
    CHECK((fs::status(made).permissions() & fs::perms::all) == fs::perms::owner_all);
    fs::create_directories(made / "a/b");
    std::ofstream(made / "a/b/file") << "x";
    // What a build leaves: a directory its owner cannot write, so a plain remove fails.
    REQUIRE(::chmod((made / "a").c_str(), 0500) == 0);
  }
  CHECK_FALSE(fs::exists(made));
}

TEST_CASE("TempDir's default parent is $TMPDIR", "[temp_dir]") {
  const ckms::TempDir parent("ckms-base-test-");
  ::setenv("TMPDIR", parent.path().c_str(), 1);
  const fs::path chosen = ckms::temp_parent();
  ::unsetenv("TMPDIR");
  CHECK(chosen == parent.path());
  CHECK(ckms::temp_parent() == "/tmp");
}
