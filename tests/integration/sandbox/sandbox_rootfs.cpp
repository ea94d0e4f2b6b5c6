// Built into a temp dir and renamed into place, so an interrupted run leaves no half root.
// The mirror comes from the host's apt sources, never from a host name written here.

#include "sandbox_rootfs.hpp"

#include <catch2/catch.hpp>

#include "testkit.hpp"

namespace ckms::builder::test {
namespace {

std::string newest_cloud_release() {
  std::string best;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/src")) {
    const std::string name = entry.path().filename().string();
    const std::string prefix = "linux-headers-";
    if (name.starts_with(prefix) && name.ends_with("-cloud-amd64")) {
      const std::string rel = name.substr(prefix.size());
      if (best.empty() || rel > best) best = rel;
    }
  }
  if (best.empty()) FAIL("no /usr/src/linux-headers-*-cloud-amd64 installed");
  return best;
}

TestRootfs build() {
  const std::string rel = newest_cloud_release();
  const auto target = std::filesystem::absolute(testkit::download_cache() / ("rootfs-" + rel));
  if (std::filesystem::exists(target / "src")) return {rel, target};
  const auto temp = target.parent_path() / (".rootfs-" + rel + ".tmp");
  std::filesystem::create_directories(target.parent_path());
  std::filesystem::remove_all(temp);
  testkit::RunOptions options;
  options.timeout_seconds = 1200;
  const auto result = testkit::run(
      {"mmdebstrap", "--mode=unshare", "--variant=essential", "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
       "--include=linux-headers-" + rel + ",make,mawk", "--dpkgopt=path-exclude=/usr/share/man/*",
       "--dpkgopt=path-exclude=/usr/share/locale/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
       "--dpkgopt=path-exclude=/usr/share/info/*", "bookworm", temp.string(), testkit::debian_sources().string()},
      options);
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  std::filesystem::create_directory(temp / "src");
  std::filesystem::create_directory(temp / "out");
  std::filesystem::rename(temp, target);
  return {rel, target};
}

}  // namespace

const TestRootfs& test_rootfs() {
  static const TestRootfs rootfs = build();
  return rootfs;
}

}  // namespace ckms::builder::test
