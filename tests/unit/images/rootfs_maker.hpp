#pragma once
// A tiny root filesystem tarball standing in for the toolchain layer's mmdebstrap output.

#include <filesystem>

#include <catch2/catch.hpp>

#include "testkit.hpp"

namespace ckms::testing {

inline std::filesystem::path make_rootfs_tar(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const fs::path rootfs = dir / "rootfs";
  fs::create_directories(rootfs / "usr/bin");
  testkit::write_text(rootfs / "usr/bin/make", "#!/bin/sh\necho make\n");
  fs::create_symlink("usr/bin", rootfs / "bin");
  const fs::path tar = dir / "rootfs.tar";
  const auto result = testkit::run({"tar", "-C", rootfs.string(), "-cf", tar.string(), "."});
  REQUIRE(result.exit_code == 0);
  fs::remove_all(rootfs);
  return tar;
}

}  // namespace ckms::testing
