// Kernel build images made by `ckms image build` against the builder's view of them: the
// labels, the unpack cache, and a plain `make -C <headers> M=<hello>` through runc in the
// unpacked image, which must give a module for exactly that kernel.

#include <catch2/catch.hpp>

#include "build_fixture.hpp"
#include "ckms/base/error.hpp"
#include "ckms/builder/build_image_source.hpp"
#include "ckms/builder/sandbox_bundle.hpp"
#include "ckms/builder/sandbox_run.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "ckms/oci/layout.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder;
using ckms::builder::test::build_fixture;

TEST_CASE("build images: labels, one unpack per image, and hello built in each through runc", "[build][image]") {
  const auto& f = build_fixture();
  ckms::oci::Layout layout(f.images, ckms::oci::Layout::Mode::open_existing);
  ckms::oci::UnpackCache cache(f.cache_dir / "unpack", ckms::builder::rootfs_traverse_group(SandboxSpec{}));
  for (const auto& release : f.releases) {
    INFO(release);
    const std::string reference = "oci:" + f.images.string() + ":" + release;
    const BuildImage image = inspect_build_image(layout, release, reference, release);
    CHECK(image.release == release);
    CHECK(image.source_dir == "/usr/src/linux-headers-" + release);
    CHECK(image.arch == "x86_64");

    const fs::path rootfs = unpack_build_image(layout, image, cache);
    CHECK(cache.find(image.manifest.digest) == rootfs);
    CHECK(fs::is_directory(rootfs / "src"));
    CHECK(fs::is_directory(rootfs / "out"));
    CHECK(fs::is_directory(rootfs / "var/lib/dkms"));
    CHECK(unpack_build_image(layout, image, cache) == rootfs);

    ckms::testkit::TempDir scratch("ckms-image-make");
    fs::permissions(scratch.path(), fs::perms::others_exec, fs::perm_options::add);
    ckms::builder::test::copy_hello(scratch / "src");
    fs::create_directory(scratch / "out");
    SandboxSpec spec;
    spec.rootfs = rootfs;
    spec.argv = {
        "sh", "-c",
        "make -C " + image.source_dir + " M=/src KERNELRELEASE=" + release + " modules && cp /src/ckms_hello.ko /out/"};
    spec.mounts = {{scratch / "src", kSandboxSourceDir, true}, {scratch / "out", kSandboxOutputDir, true}};
    spec.work_dir = scratch / "runtime";
    spec.log_file = scratch / "make.log";
    spec.time_limit = std::chrono::seconds(600);
    const SandboxResult result = run_sandbox(spec);
    INFO(ckms::testkit::read_text(spec.log_file));
    REQUIRE(result.exit_code == 0);
    const auto info = ckms::kmod::read_modinfo_file(scratch / "out/ckms_hello.ko");
    CHECK(info.vermagic.starts_with(release + " "));
    CHECK(info.name == "ckms_hello");
  }
}

TEST_CASE("build images: an image labelled for another kernel is refused", "[build][image]") {
  const auto& f = build_fixture();
  ckms::oci::Layout layout(f.images, ckms::oci::Layout::Mode::open_existing);
  try {
    inspect_build_image(layout, f.releases[0], "wrong", f.releases[1]);
    FAIL("an image of " << f.releases[0] << " was accepted for " << f.releases[1]);
  } catch (const ckms::Error& e) {
    CHECK(e.kind() == ckms::ErrorKind::refused);
    CHECK(std::string(e.what()).find("not the asked kernel " + f.releases[1]) != std::string::npos);
  }
}
