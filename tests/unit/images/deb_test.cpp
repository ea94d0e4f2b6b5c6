#include <catch2/catch.hpp>

#include <filesystem>

#include "ckms/base/error.hpp"
#include "ckms/images/deb.hpp"
#include "deb_maker.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::testing::DebSpec;
using ckms::testing::make_deb;

TEST_CASE("a package's control file and data unpack, whatever dpkg-deb compressed them with") {
  if (!ckms::testkit::have_program("dpkg-deb")) {
    WARN("dpkg-deb missing: not tested");
    return;
  }
  for (const std::string compression : {"xz", "zstd", "gzip", "none"}) {
    INFO(compression);
    ckms::testkit::TempDir dir("ckms-test-");
    DebSpec spec{.package = "linux-headers-9.9.9-1-test",
                 .version = "9.9.9-1",
                 .depends = "linux-kbuild-9.9 (>= 9.9.9-1)",
                 .compression = compression,
                 .files = {{"usr/src/linux-headers-9.9.9-1-test/Makefile", "include common\n"},
                           {"usr/src/linux-headers-9.9.9-1-test/run.sh", "#!/bin/sh\n"}},
                 .symlinks = {{"usr/src/linux-headers-9.9.9-1-test/scripts", "../../lib/linux-kbuild-9.9/scripts"}}};
    const auto deb = make_deb(dir.path(), spec);

    const auto control = ckms::images::read_deb_control(deb);
    CHECK(control.package() == spec.package);
    CHECK(control.version() == "9.9.9-1");
    CHECK(control.field("Depends") == spec.depends);
    CHECK(control.field("Description") == "test package\nmade by the ckms tests");
    CHECK(control.build_time == 1700000000);

    const fs::path target = dir / "out";
    fs::create_directory(target);
    ckms::images::unpack_deb(deb, target);
    const fs::path tree = target / "usr/src/linux-headers-9.9.9-1-test";
    CHECK(ckms::testkit::read_text(tree / "Makefile") == "include common\n");
    CHECK((fs::status(tree / "run.sh").permissions() & fs::perms::owner_exec) != fs::perms::none);
    CHECK(fs::read_symlink(tree / "scripts") == "../../lib/linux-kbuild-9.9/scripts");
  }
}

TEST_CASE("files that are not packages are refused naming the file") {
  ckms::testkit::TempDir dir("ckms-test-");
  ckms::testkit::write_text(dir / "bogus.deb", "not an ar archive");
  CHECK_THROWS_WITH(ckms::images::read_deb_control(dir / "bogus.deb"), Catch::Contains("bogus.deb"));
  CHECK_THROWS_AS(ckms::images::read_deb_control(dir / "missing.deb"), ckms::Error);
}
