#pragma once
// The build image for sandbox tests: a Debian bookworm root with the newest installed cloud
// kernel's headers, make and mawk, plus the empty /src and /out mount points ckms images
// carry. Built once with mmdebstrap and cached.

#include <filesystem>
#include <string>

namespace ckms::builder::test {

struct TestRootfs {
  std::string release;         // e.g. 6.1.0-56-cloud-amd64
  std::filesystem::path path;  // absolute
};

const TestRootfs& test_rootfs();

}  // namespace ckms::builder::test
