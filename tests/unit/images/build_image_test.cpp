#include <catch2/catch.hpp>

#include <filesystem>

#include "ckms/base/error.hpp"
#include "ckms/images/build_image.hpp"
#include "ckms/images/debian_packages.hpp"
#include "ckms/oci/image_config.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "deb_maker.hpp"
#include "rootfs_maker.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
namespace images = ckms::images;
namespace oci = ckms::oci;
using ckms::testing::DebSpec;
using ckms::testing::make_deb;
using ckms::testing::make_rootfs_tar;

namespace {

// Two kernels of one ABI family: their own headers, their own -common, one shared kbuild.
void make_kernel_debs(const fs::path& debs) {
  for (const std::string abi : {"1", "2"}) {
    const std::string release = "9.9.9-" + abi + "-test";
    make_deb(debs,
             {.package = "linux-headers-" + release,
              .version = "9.9.9-" + abi,
              .depends = fmt::format("linux-headers-9.9.9-{}-common (= 9.9.9-{}), linux-kbuild-9.9 (>= 9.9.9-1), "
                                     "linux-compiler-gcc-12-x86",
                                     abi, abi),
              .files = {{"usr/src/linux-headers-" + release + "/.config", "CONFIG_X=" + abi + "\n"}},
              .symlinks = {{"usr/src/linux-headers-" + release + "/scripts", "../../lib/linux-kbuild-9.9/scripts"},
                           {"lib/modules/" + release + "/build", "/usr/src/linux-headers-" + release}}});
    make_deb(debs, {.package = "linux-headers-9.9.9-" + abi + "-common",
                    .version = "9.9.9-" + abi,
                    .files = {{"usr/src/linux-headers-9.9.9-" + abi + "-common/Makefile", "VERSION = 9\n"}}});
  }
  make_deb(debs, {.package = "linux-kbuild-9.9",
                  .version = "9.9.9-1",
                  .files = {{"usr/lib/linux-kbuild-9.9/scripts/basic/fixdep.sh", "#!/bin/sh\n"}}});
}

struct Built {
  oci::Descriptor manifest;
  oci::ImageManifest parsed;
  oci::ImageConfig config;
};

Built read_back(oci::Layout& layout, std::string_view tag) {
  const auto manifest = layout.resolve(tag);
  auto parsed = oci::ImageManifest::parse(oci::fetch_bytes(layout, manifest), "test");
  auto config = oci::ImageConfig::parse(oci::fetch_bytes(layout, parsed.config), "test");
  return Built{manifest, std::move(parsed), std::move(config)};
}

}  // namespace

TEST_CASE("a kernel's headers packages are found through Depends, the compiler left out") {
  if (!ckms::testkit::have_program("dpkg-deb")) return;
  ckms::testkit::TempDir dir("ckms-test-");
  make_kernel_debs(dir / "debs");
  images::DirectorySource source(dir / "debs");
  const auto packages = images::kernel_header_packages("9.9.9-1-test", source);
  REQUIRE(packages.size() == 3);
  CHECK(packages[0].control.package() == "linux-headers-9.9.9-1-test");
  CHECK(packages[1].control.package() == "linux-headers-9.9.9-1-common");
  CHECK(packages[2].control.package() == "linux-kbuild-9.9");
  CHECK_THROWS_WITH(images::kernel_header_packages("9.9.9-3-test", source),
                    Catch::Contains("linux-headers-9.9.9-3-test"));
}

// What a directory filled for both architectures holds: each kernel's headers for amd64 and
// arm64, one "all" -common, and kbuild for both.
void make_two_arch_debs(const fs::path& debs) {
  for (const std::string arch : {"amd64", "arm64"}) {
    make_deb(debs, {.package = "linux-headers-9.9.9-1-test",
                    .version = "9.9.9-1",
                    .depends = "linux-headers-9.9.9-1-common (= 9.9.9-1), linux-kbuild-9.9 (>= 9.9.9-1), gcc-12",
                    .architecture = arch,
                    .files = {{"usr/src/linux-headers-9.9.9-1-test/.config", "CONFIG_" + arch + "=y\n"}}});
    make_deb(debs, {.package = "linux-kbuild-9.9",
                    .version = "9.9.9-1",
                    .architecture = arch,
                    .files = {{"usr/lib/linux-kbuild-9.9/scripts/basic/fixdep", arch + "\n"}}});
  }
  make_deb(debs, {.package = "linux-headers-9.9.9-1-common",
                  .version = "9.9.9-1",
                  .architecture = "all",
                  .files = {{"usr/src/linux-headers-9.9.9-1-common/Makefile", "VERSION = 9\n"}}});
}

TEST_CASE("across architectures: the target's headers, an \"all\" -common, the build machine's kbuild") {
  if (!ckms::testkit::have_program("dpkg-deb")) return;
  ckms::testkit::TempDir dir("ckms-test-");
  make_two_arch_debs(dir / "debs");
  images::DirectorySource source(dir / "debs");
  const auto packages =
      images::kernel_header_packages("9.9.9-1-test", source, images::HeadersArchitectures{"arm64", "amd64"});
  REQUIRE(packages.size() == 3);
  CHECK(packages[0].control.field("Architecture") == "arm64");
  CHECK(packages[1].control.package() == "linux-headers-9.9.9-1-common");
  CHECK(packages[2].control.package() == "linux-kbuild-9.9");
  CHECK(packages[2].control.field("Architecture") == "amd64");
  // Without architectures the directory is ambiguous, as it always was.
  CHECK_THROWS_WITH(images::kernel_header_packages("9.9.9-1-test", source), Catch::Contains("several candidates"));
  CHECK_THROWS_WITH(
      images::kernel_header_packages("9.9.9-1-test", source, images::HeadersArchitectures{"riscv64", "amd64"}),
      Catch::Contains("linux-headers-9.9.9-1-test:riscv64: no such package"));

  const auto toolchain = images::toolchain_from_tar(make_rootfs_tar(dir.path()), dir / "work", {});
  oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
  const auto image = images::build_kernel_image(toolchain, "9.9.9-1-test",
                                                images::debian_headers_tree("9.9.9-1-test", packages, "arm64"), layout,
                                                "arm", dir / "work", {});
  const auto built = read_back(layout, "arm");
  // It runs on amd64 and builds for arm64: the platform says the one, the labels both.
  CHECK(built.config.architecture == "amd64");
  CHECK(image.manifest.platform->architecture == "amd64");
  CHECK(built.config.labels.at("io.ckms.kernel.arch") == "arm64");
  CHECK(built.config.labels.at("io.ckms.build.platform") == "linux/amd64");
}

TEST_CASE("Debian's names for OCI architectures") {
  CHECK(images::debian_architecture("arm64") == "arm64");
  CHECK(images::debian_architecture("amd64") == "amd64");
  CHECK(images::debian_architecture("ppc64le") == "ppc64el");
  CHECK(images::debian_architecture("386") == "i386");
  CHECK_THROWS_WITH(images::debian_architecture("arm"), Catch::Contains("architecture 'arm'"));
}

TEST_CASE("two kernels share the toolchain layer and build the same digests twice") {
  if (!ckms::testkit::have_program("dpkg-deb")) return;
  ckms::testkit::TempDir dir("ckms-test-");
  make_kernel_debs(dir / "debs");
  const fs::path tar = make_rootfs_tar(dir.path());
  images::DirectorySource source(dir / "debs");
  const images::LayerOptions options;

  std::map<std::string, ckms::Digest> first_digests;
  for (const std::string run : {"a", "b"}) {
    const auto toolchain = images::toolchain_from_tar(tar, dir / ("work-" + run), options);
    oci::Layout layout(dir / ("layout-" + run), oci::Layout::Mode::create_if_missing);
    for (const std::string release : {"9.9.9-1-test", "9.9.9-2-test"}) {
      const auto image = images::build_kernel_image(toolchain, release, images::kernel_header_packages(release, source),
                                                    layout, release, dir / ("work-" + run), options);
      if (run == "a") {
        first_digests.emplace(release, image.manifest.digest);
      } else {
        CHECK(image.manifest.digest == first_digests.at(release));
      }
    }
    const auto one = read_back(layout, "9.9.9-1-test");
    const auto two = read_back(layout, "9.9.9-2-test");
    REQUIRE(one.parsed.layers.size() == 2);
    REQUIRE(two.parsed.layers.size() == 2);
    CHECK(one.parsed.layers[0].digest == two.parsed.layers[0].digest);
    CHECK(one.parsed.layers[1].digest != two.parsed.layers[1].digest);
    CHECK(one.parsed.media_type == "application/vnd.oci.image.manifest.v1+json");
    CHECK(one.config.labels.at("io.ckms.kernel.release") == "9.9.9-1-test");
    CHECK(one.config.labels.at("io.ckms.kernel.source-dir") == "/usr/src/linux-headers-9.9.9-1-test");
    CHECK(one.config.architecture == "amd64");
    CHECK(one.config.os == "linux");
    CHECK(one.config.env == std::vector<std::string>{std::string(images::kDefaultPath)});
    CHECK(one.config.diff_ids.size() == 2);
    CHECK(layout.verify().empty());
  }
}

TEST_CASE("a base image's layers and config are reused under the headers layer") {
  if (!ckms::testkit::have_program("dpkg-deb")) return;
  ckms::testkit::TempDir dir("ckms-test-");
  make_kernel_debs(dir / "debs");
  images::DirectorySource source(dir / "debs");
  const images::LayerOptions options;
  auto base_layout = std::make_shared<oci::Layout>(dir / "base", oci::Layout::Mode::create_if_missing);
  {
    const auto toolchain = images::toolchain_from_tar(make_rootfs_tar(dir.path()), dir / "work", options);
    images::build_kernel_image(toolchain, "9.9.9-1-test", images::kernel_header_packages("9.9.9-1-test", source),
                               *base_layout, "base", dir / "work", options);
  }
  const auto toolchain = images::toolchain_from_image(base_layout, "base");
  CHECK(toolchain.layers.size() == 2);
  oci::Layout out(dir / "out", oci::Layout::Mode::create_if_missing);
  images::build_kernel_image(toolchain, "9.9.9-2-test", images::kernel_header_packages("9.9.9-2-test", source), out,
                             "9.9.9-2-test", dir / "work", options);
  const auto built = read_back(out, "9.9.9-2-test");
  CHECK(built.parsed.layers.size() == 3);
  CHECK(built.config.labels.at("io.ckms.kernel.release") == "9.9.9-2-test");
  CHECK(built.config.history_comments.size() == 3);
  CHECK(out.verify().empty());
}
