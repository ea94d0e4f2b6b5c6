// `ckms image build --rpms DIR` end to end: packages rpmbuild made, images read back by skopeo,
// and the errors a user sees for a missing kernel, a bad file and conflicting flags.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "rootfs_maker.hpp"
#include "rpm_maker.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::testkit::run;

namespace {

ckms::testkit::RunResult image_build(const std::vector<std::string>& args) {
  std::vector<std::string> argv{ckms::testkit::ckms_binary().string(), "--json", "image", "build"};
  argv.insert(argv.end(), args.begin(), args.end());
  ckms::testkit::RunOptions options;
  options.env["SOURCE_DATE_EPOCH"] = "1700000000";
  return run(argv, options);
}

// Built once: Catch runs the test case again for each section.
const ckms::testing::BuiltRpms& kernel_rpms() {
  static const ckms::testkit::TempDir dir("ckms-rpm-cli");
  static const auto built = ckms::testing::build_kernel_rpms(dir.path(), {});
  return built;
}

}  // namespace

TEST_CASE("ckms image build --rpms builds from kernel-devel packages and names what is missing") {
  ckms::testkit::TempDir dir("ckms-test-");
  const ckms::testing::KernelRpmSpec spec;
  const auto& built = kernel_rpms();
  const fs::path rpms = dir / "rpms";
  fs::create_directories(rpms);
  for (const auto& file : {built.devel, built.debug_devel, built.matched, built.source}) {
    fs::copy_file(file, rpms / file.filename());
  }
  const std::string release = ckms::testing::kernel_rpm_release(spec);
  const std::string tar = ckms::testing::make_rootfs_tar(dir.path()).string();
  const std::string layout = "oci:" + (dir / "layout").string();

  SECTION("two flavours of one kernel, read back by skopeo") {
    const auto result = image_build({"--rpms", rpms.string(), "--toolchain-tar", tar, "--output", layout, "--kernel",
                                     release, "--kernel", release + "+debug"});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    const auto json = nlohmann::json::parse(result.out);
    REQUIRE(json.at("images").size() == 2);
    CHECK(json["images"][0]["packages"] ==
          nlohmann::json::parse(R"([{"package": "kernel-devel", "version": "6.1.99-100.ckmstest"}])"));
    CHECK(json["images"][1]["packages"][0]["package"] == "kernel-debug-devel");
    CHECK(json["images"][0]["headersLayer"] != json["images"][1]["headersLayer"]);
    if (!ckms::testkit::have_program("skopeo")) {
      WARN("skopeo missing: the images were not read back");
      return;
    }
    for (const std::string& kernel : {release, release + "+debug"}) {
      // The tag is the release with '+' made '_', as oci::sanitize_tag does.
      std::string tag = kernel;
      std::replace(tag.begin(), tag.end(), '+', '_');
      const auto inspect = run({"skopeo", "inspect", "--config", layout + ":" + tag});
      INFO(inspect.err);
      REQUIRE(inspect.exit_code == 0);
      const auto labels = nlohmann::json::parse(inspect.out).at("config").at("Labels");
      CHECK(labels.at("io.ckms.kernel.release") == kernel);
      CHECK(labels.at("io.ckms.kernel.source-dir") == "/usr/src/kernels/" + kernel);
    }
  }
  SECTION("a kernel without kernel-devel in the directory: not found, before any layer is made") {
    const auto result = image_build({"--rpms", rpms.string(), "--toolchain-tar", tar, "--output", layout, "--kernel",
                                     release, "--kernel", "6.1.98-1.fc99.x86_64"});
    CHECK(result.exit_code == 3);
    CHECK_THAT(result.err, Catch::Contains("kernel 6.1.98-1.fc99.x86_64: no package in " + rpms.string() +
                                           " provides kernel-devel-uname-r = 6.1.98-1.fc99.x86_64") &&
                               Catch::Contains("it has kernel-devel for: " + release));
    CHECK_FALSE(fs::exists(dir / "layout"));
  }
  SECTION("a file that is not an RPM package is named") {
    ckms::testkit::write_text(rpms / "kernel-devel-partial.rpm", "truncated download");
    const auto result =
        image_build({"--rpms", rpms.string(), "--toolchain-tar", tar, "--output", layout, "--kernel", release});
    CHECK(result.exit_code == 4);
    CHECK_THAT(result.err,
               Catch::Contains((rpms / "kernel-devel-partial.rpm").string()) && Catch::Contains("not an RPM package"));
  }
  SECTION("--rpms excludes --debs") {
    const auto result = image_build({"--rpms", rpms.string(), "--debs", rpms.string(), "--toolchain-tar", tar,
                                     "--output", layout, "--kernel", release});
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("--rpms") && Catch::Contains("--debs"));
  }
}
