// Reading files from an untrusted tree: symlinks resolve inside the tree, never on the host.

#include <catch2/catch.hpp>

#include <filesystem>

#include "ckms/base/error.hpp"
#include "ckms/builder/tree_files.hpp"
#include "ckms/oci/layer_path.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder;
using ckms::testkit::write_text;

TEST_CASE("in-root reads resolve symlinks as the container would") {
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path root = dir / "root";
  fs::create_directories(root / "usr/src/headers");
  fs::create_directories(root / "etc");
  write_text(root / "usr/src/headers/.config", "CONFIG_X=y\n");
  write_text(root / "etc/passwd", "image passwd\n");
  write_text(dir / "host-secret", "host secret\n");

  CHECK(read_file_in_root(root, "/usr/src/headers/.config", 1024, "t") == "CONFIG_X=y\n");
  CHECK_FALSE(read_file_in_root(root, "/usr/src/missing/.config", 1024, "t"));

  // An absolute link means the image's /etc/passwd, a relative escape stops at the root.
  fs::create_symlink("/etc/passwd", root / "usr/src/headers/abs");
  fs::create_symlink("../../../../host-secret", root / "usr/src/headers/rel");
  fs::create_symlink((dir / "host-secret").string(), root / "usr/src/headers/host");
  const bool openat2 = ckms::kernel_has_openat2();
  if (openat2) {
    CHECK(read_file_in_root(root, "/usr/src/headers/abs", 1024, "t") == "image passwd\n");
    CHECK_FALSE(read_file_in_root(root, "/usr/src/headers/rel", 1024, "t"));
    CHECK_FALSE(read_file_in_root(root, "/usr/src/headers/host", 1024, "t"));
  }
  for (const char* link : {"abs", "rel", "host"}) {
    INFO(link);
    try {
      const auto read = read_file_in_root(root, std::string("/usr/src/headers/") + link, 1024, "t");
      CHECK(read.value_or("") != "host secret\n");
    } catch (const ckms::Error& e) {
      CHECK(e.kind() == ckms::ErrorKind::refused);
    }
  }
}

TEST_CASE("in-root reads refuse what is not a small regular file") {
  ckms::testkit::TempDir dir("ckms-test-");
  fs::create_directories(dir / "root/d");
  write_text(dir / "root/big", std::string(2048, 'x'));
  CHECK_THROWS_AS(read_file_in_root(dir / "root", "/d", 1024, "t"), ckms::Error);
  CHECK_THROWS_AS(read_file_in_root(dir / "root", "/big", 1024, "t"), ckms::Error);
}

TEST_CASE("plain reads take names, not paths, and never follow a link") {
  ckms::testkit::TempDir dir("ckms-test-");
  write_text(dir / "ok", "ok");
  fs::create_symlink(dir / "ok", dir / "link");
  CHECK(read_plain_file(dir.path(), "ok", 16, "t") == "ok");
  CHECK_FALSE(read_plain_file(dir.path(), "absent", 16, "t"));
  CHECK_THROWS_AS(read_plain_file(dir.path(), "link", 16, "t"), ckms::Error);
  CHECK_THROWS_AS(read_plain_file(dir.path(), "../ok", 16, "t"), ckms::Error);
  CHECK_THROWS_AS(read_plain_file(dir.path(), "..", 16, "t"), ckms::Error);
}
