// `ckms image build` against Debian's real kernel headers packages: two releases into one
// OCI layout, checked against dpkg-deb's own unpacking and skopeo's reading of the layout.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ckms/images/debian_packages.hpp"
#include "ckms/oci/image_config.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "registry_fixture.hpp"
#include "rootfs_maker.hpp"
#include "testkit.hpp"
#include "tree_compare.hpp"

namespace fs = std::filesystem;
namespace oci = ckms::oci;
using ckms::testkit::run;

namespace {

// The newest two cloud kernels whose headers are installed: discovered, never hard-coded,
// because security updates move the ABI.
std::vector<std::string> installed_cloud_releases() {
  std::vector<std::string> releases;
  if (!fs::is_directory("/usr/src")) return releases;
  for (const auto& entry : fs::directory_iterator("/usr/src")) {
    const std::string name = entry.path().filename().string();
    const std::string prefix = "linux-headers-";
    if (name.starts_with(prefix) && name.ends_with("-cloud-amd64")) releases.push_back(name.substr(prefix.size()));
  }
  std::sort(releases.begin(), releases.end());
  if (releases.size() > 2) releases.erase(releases.begin(), releases.end() - 2);
  return releases;
}

// `destination` is the --output or --template argument pair.
nlohmann::json build(const std::vector<std::string>& releases, const fs::path& tar,
                     const std::vector<std::string>& destination) {
  std::vector<std::string> argv{ckms::testkit::ckms_binary().string(),
                                "--json",
                                "image",
                                "build",
                                "--toolchain-tar",
                                tar.string(),
                                "--apt-cache",
                                (ckms::testkit::download_cache() / "debs").string()};
  argv.insert(argv.end(), destination.begin(), destination.end());
  for (const auto& release : releases) {
    argv.push_back("--kernel");
    argv.push_back(release);
  }
  ckms::testkit::RunOptions options;
  options.env["SOURCE_DATE_EPOCH"] = "1700000000";
  const auto result = run(argv, options);
  INFO(result.out << result.err);
  REQUIRE(result.exit_code == 0);
  return nlohmann::json::parse(result.out);
}

}  // namespace

TEST_CASE("build images for the installed cloud kernels from Debian's packages") {
  const auto releases = installed_cloud_releases();
  if (releases.size() < 2 || !ckms::testkit::have_program("apt-get") || !ckms::testkit::have_program("dpkg-deb")) {
    WARN("needs two installed linux-headers-*-cloud-amd64, apt-get and dpkg-deb: not tested");
    return;
  }
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path tar = ckms::testing::make_rootfs_tar(dir.path());
  const auto first = build(releases, tar, {"--output", "oci:" + (dir / "layout").string()});
  REQUIRE(first.at("images").size() == 2);

  SECTION("building again gives identical digests") {
    const auto second = build(releases, tar, {"--output", "oci:" + (dir / "again").string()});
    for (std::size_t i = 0; i < releases.size(); ++i) {
      CHECK(first["images"][i]["digest"] == second["images"][i]["digest"]);
    }
  }

  SECTION("pushed to a repository per kernel: the same digests, the toolchain layer uploaded once, then mounted") {
    if (!ckms::testkit::have_program("docker-registry")) {
      WARN("docker-registry missing: registry push not tested");
      return;
    }
    ckms::testing::LocalRegistry registry(dir.path());
    const auto pushed =
        build(releases, tar, {"--template", registry.host() + "/kernels/{release}:build", "--plain-http"});
    const std::string toolchain = pushed.at("toolchainLayers").at(0).get<std::string>();
    for (std::size_t i = 0; i < releases.size(); ++i) {
      CHECK(pushed["images"][i]["digest"] == first["images"][i]["digest"]);
      const auto inspect = run({"skopeo", "inspect", "--tls-verify=false",
                                "docker://" + registry.host() + "/kernels/" + releases[i] + ":build"});
      INFO(inspect.err);
      REQUIRE(inspect.exit_code == 0);
      CHECK(nlohmann::json::parse(inspect.out)["Labels"]["io.ckms.kernel.release"] == releases[i]);
    }
    // The access log has one "PUT ...?digest=sha256%3A<hex>" line per completed upload, and
    // one "POST ...?mount=sha256%3A<hex>&from=..." line per mount with its status.
    const std::string hex = toolchain.substr(std::string("sha256:").size());
    std::istringstream log(registry.log());
    int uploads = 0, mounts = 0;
    for (std::string line; std::getline(log, line);) {
      if (line.find("\"PUT ") != std::string::npos && line.find("digest=sha256%3A" + hex) != std::string::npos) {
        ++uploads;
      }
      if (line.find("\"POST ") != std::string::npos && line.find("mount=sha256%3A" + hex) != std::string::npos &&
          line.find("\" 201 ") != std::string::npos) {
        ++mounts;
      }
    }
    INFO(registry.log());
    CHECK(uploads == 1);
    CHECK(mounts == 1);
  }

  SECTION("the layers are shared toolchain plus exactly what dpkg-deb unpacks") {
    oci::Layout layout(dir / "layout", oci::Layout::Mode::open_existing);
    CHECK(layout.verify().empty());
    ckms::images::AptSource apt(ckms::testkit::download_cache() / "debs");
    std::optional<ckms::Digest> toolchain_layer;
    for (const auto& release : releases) {
      INFO(release);
      const auto descriptor = layout.resolve(release);
      const auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(layout, descriptor), release);
      REQUIRE(manifest.layers.size() == 2);
      if (toolchain_layer) CHECK(manifest.layers[0].digest == *toolchain_layer);
      toolchain_layer = manifest.layers[0].digest;

      const auto config = oci::ImageConfig::parse(oci::fetch_bytes(layout, manifest.config), release);
      CHECK(config.labels.at("io.ckms.kernel.release") == release);
      CHECK(config.labels.at("io.ckms.kernel.source-dir") == "/usr/src/linux-headers-" + release);

      const fs::path ours = dir / ("ours-" + release);
      const fs::path theirs = dir / ("theirs-" + release);
      fs::create_directories(ours);
      fs::create_directories(theirs);
      ckms::FileReader blob(layout.blob_path(manifest.layers[1].digest));
      oci::apply_layer(blob, ours);
      for (const auto& package : ckms::images::kernel_header_packages(release, apt)) {
        const auto result = run({"dpkg-deb", "-x", package.file.string(), theirs.string()});
        REQUIRE(result.exit_code == 0);
      }
      const auto differences = ckms::testing::compare_trees(theirs, ours);
      INFO((differences.empty() ? "" : differences.front()));
      CHECK(differences.size() == 0);

      const auto inspect = run({"skopeo", "inspect", "oci:" + (dir / "layout").string() + ":" + release});
      INFO(inspect.err);
      REQUIRE(inspect.exit_code == 0);
      const auto inspected = nlohmann::json::parse(inspect.out);
      CHECK(inspected["Labels"]["io.ckms.kernel.release"] == release);
      CHECK(inspected["Architecture"] == "amd64");
    }
  }
}
