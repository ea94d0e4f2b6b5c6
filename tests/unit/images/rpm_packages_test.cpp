// Finding a kernel's kernel-devel in a directory of .rpm files, and the kernel build image made
// from it, whose headers layer must hold exactly what `rpm2cpio | cpio -idm` unpacks.
#include <catch2/catch.hpp>

#include <filesystem>

#include "ckms/base/error.hpp"
#include "ckms/images/rpm_packages.hpp"
#include "ckms/oci/image_config.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/reference.hpp"
#include "rootfs_maker.hpp"
#include "rpm_corpus.hpp"
#include "testkit.hpp"
#include "tree_compare.hpp"

namespace fs = std::filesystem;
namespace images = ckms::images;
namespace oci = ckms::oci;
using ckms::testing::kernel_rpm_release;
using ckms::testing::rpm_corpus;

namespace {

// A directory holding copies of `files`, as a user's `dnf download` would leave it.
void fill(const fs::path& dir, const std::vector<fs::path>& files) {
  fs::create_directories(dir);
  for (const auto& file : files) fs::copy_file(file, dir / file.filename());
}

ckms::ErrorKind kind_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ckms::Error& error) {
    return error.kind();
  }
  FAIL("no error");
  return ckms::ErrorKind::internal;
}

}  // namespace

TEST_CASE("kernel-devel is found by its kernel-devel-uname-r Provides") {
  const auto& zstd = rpm_corpus().zstd;
  const std::string release = kernel_rpm_release(zstd.spec);
  ckms::testkit::TempDir dir("ckms-test-");
  // The whole output of a kernel.spec build, the source package and the arm64 one included.
  fill(dir / "rpms",
       {zstd.rpms.devel, zstd.rpms.debug_devel, zstd.rpms.matched, zstd.rpms.source, rpm_corpus().bzip2.rpms.devel});
  const images::RpmDirectorySource source(dir / "rpms");

  CHECK(source.kernel_devel(release).file.filename() == zstd.rpms.devel.filename());
  CHECK(source.kernel_devel(release + "+debug").file.filename() == zstd.rpms.debug_devel.filename());

  SECTION("a release no package provides is not found; the message says which releases are there") {
    const std::string missing = "6.1.98-100.ckmstest.x86_64";
    CHECK_THROWS_WITH(source.kernel_devel(missing),
                      Catch::Contains("kernel " + missing + ": no package in " + (dir / "rpms").string()) &&
                          Catch::Contains("kernel-devel-uname-r = " + missing) &&
                          Catch::Contains("it has kernel-devel for: 6.1.99-100.ckmstest.aarch64 " + release + " " +
                                          release + "+debug"));
    CHECK(kind_of([&] { source.kernel_devel(missing); }) == ckms::ErrorKind::not_found);
  }
  SECTION("another architecture's kernel-devel is refused: images are linux/amd64") {
    const std::string arm = kernel_rpm_release(rpm_corpus().bzip2.spec);
    CHECK_THROWS_WITH(source.kernel_devel(arm), Catch::Contains("is for aarch64"));
    CHECK(kind_of([&] { source.kernel_devel(arm); }) == ckms::ErrorKind::usage);
  }
  SECTION("two packages for one release are ambiguous, both named") {
    fs::copy_file(zstd.rpms.devel, dir / "rpms/copy-of-kernel-devel.rpm");
    const images::RpmDirectorySource doubled(dir / "rpms");
    CHECK_THROWS_WITH(doubled.kernel_devel(release), Catch::Contains("several packages") &&
                                                         Catch::Contains("copy-of-kernel-devel.rpm") &&
                                                         Catch::Contains(zstd.rpms.devel.filename().string()));
  }
  SECTION("a directory without kernel-devel says so") {
    fill(dir / "other", {zstd.rpms.matched});
    CHECK_THROWS_WITH(images::RpmDirectorySource(dir / "other").kernel_devel(release),
                      Catch::Contains("it has no kernel-devel package at all"));
  }
  SECTION("a file that is not an RPM package is refused by name when the directory is read") {
    ckms::testkit::write_text(dir / "rpms/kernel-devel-9-9.x86_64.rpm", "<html>404 Not Found</html>\n");
    CHECK_THROWS_WITH(
        images::RpmDirectorySource(dir / "rpms"),
        Catch::Contains((dir / "rpms/kernel-devel-9-9.x86_64.rpm").string()) && Catch::Contains("not an RPM package"));
  }
  SECTION("a missing directory is not found") {
    CHECK(kind_of([&] { images::RpmDirectorySource(dir / "nothing"); }) == ckms::ErrorKind::not_found);
  }
}

TEST_CASE("a kernel build image from kernel-devel: its headers layer is what rpm2cpio | cpio -idm unpacks") {
  const auto& zstd = rpm_corpus().zstd;
  ckms::testkit::TempDir dir("ckms-test-");
  fill(dir / "rpms", {zstd.rpms.devel, zstd.rpms.debug_devel, zstd.rpms.matched});
  const images::RpmDirectorySource source(dir / "rpms");
  const images::LayerOptions options;
  const auto toolchain = images::toolchain_from_tar(ckms::testing::make_rootfs_tar(dir.path()), dir / "work", options);
  oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);

  for (const std::string& release : {kernel_rpm_release(zstd.spec), kernel_rpm_release(zstd.spec) + "+debug"}) {
    INFO(release);
    const auto kernel_devel = source.kernel_devel(release);
    const auto image = images::build_kernel_image(toolchain, release, images::rpm_headers_tree(release, kernel_devel),
                                                  layout, oci::sanitize_tag(release), dir / "work", options);
    const auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(layout, image.manifest), "test");
    const auto config = oci::ImageConfig::parse(oci::fetch_bytes(layout, manifest.config), "test");
    CHECK(config.labels.at("io.ckms.kernel.release") == release);
    CHECK(config.labels.at("io.ckms.kernel.source-dir") == "/usr/src/kernels/" + release);
    CHECK(config.history_comments.back() == "kernel headers: " + kernel_devel.header.name + "=6.1.99-100.ckmstest");
    CHECK(config.created == "2023-11-14T22:13:20Z");  // the package's build time
    REQUIRE(manifest.layers.size() == toolchain.layers.size() + 1);
    CHECK(manifest.layers.front().digest == toolchain.layers.front().digest);
    REQUIRE(manifest.layers.back().digest == image.headers_layer.digest);

    const fs::path ours = dir / ("ours-" + release);
    const fs::path theirs = dir / ("theirs-" + release);
    fs::create_directories(ours);
    auto blob = layout.fetch(image.headers_layer);
    oci::apply_layer(*blob, ours);
    ckms::testing::rpm2cpio_unpack(kernel_devel.file, theirs);
    const auto differences = ckms::testing::compare_trees(theirs, ours);
    for (const auto& difference : differences) UNSCOPED_INFO(difference);
    CHECK(differences.empty());
    CHECK(fs::is_regular_file(ours / ("usr/src/kernels/" + release + "/Makefile")));

    const auto again = images::build_kernel_image(toolchain, release, images::rpm_headers_tree(release, kernel_devel),
                                                  layout, "again", dir / "work", options);
    CHECK(again.manifest.digest == image.manifest.digest);
  }
  CHECK(layout.verify().empty());

  SECTION("a package whose tree is not the release's is refused before anything is tagged") {
    const auto kernel_devel = source.kernel_devel(kernel_rpm_release(zstd.spec));
    CHECK_THROWS_WITH(
        images::build_kernel_image(toolchain, "6.1.99-wrong", images::rpm_headers_tree("6.1.99-wrong", kernel_devel),
                                   layout, "wrong", dir / "work", options),
        Catch::Contains("the packages hold no /usr/src/kernels/6.1.99-wrong"));
    CHECK_THROWS(layout.resolve("wrong"));
  }
}
