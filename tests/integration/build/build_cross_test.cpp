// arm64 kernels cross-built on this amd64 machine: a build image from Debian's arm64
// headers, the amd64 kbuild and the aarch64 cross toolchain (`ckms image build --arch
// arm64`), then `ckms build` of examples/hello and of a corpus module for Debian's newest
// arm64 cloud kernel. The modules are read back with binutils' readelf, kmod's modinfo and
// the kernel's sign-file; the version's index holds the amd64 and arm64 kernels, as
// `ckms inspect` and skopeo read it. Skipped, saying so, only when Debian's archive cannot
// be reached.

#include <memory>
#include <set>

#include <catch2/catch.hpp>

#include "build_fixture.hpp"
#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/io.hpp"
#include "ckms/kmod/signature.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder::test;
using ckms::testkit::run;

namespace {

// Debian's cross toolchain for arm64 and what kbuild's amd64 programs link.
const std::vector<std::string> kCrossToolchainPackages = {
    "gcc-12-aarch64-linux-gnu", "binutils-aarch64-linux-gnu", "make", "libelf1", "libssl3", "patch", "kmod", "mawk"};

std::string newest_arm64_release() {
  const auto r = run({std::string(CKMS_SOURCE_DIR) + "/scripts/kernel-releases.sh", "1", "arm64"});
  REQUIRE(r.exit_code == 0);
  const std::string release = r.out.substr(0, r.out.find('\n'));
  INFO("apt knows no arm64 cloud kernel: run scripts/install-deps.sh (dpkg --add-architecture arm64)");
  REQUIRE(!release.empty());
  return release;
}

// Whether the archive answers for the headers package: apt prints its address without
// the network, curl asks the mirror for it.
bool archive_reachable(const std::string& release) {
  const auto uris = run({"apt-get", "download", "--print-uris", "linux-headers-" + release + ":arm64"});
  const std::string& text = uris.out.empty() ? uris.err : uris.out;
  const auto open = text.find('\'');
  REQUIRE(open != std::string::npos);
  const std::string uri = text.substr(open + 1, text.find('\'', open + 1) - open - 1);
  return run({"curl", "-sfI", "--max-time", "30", uri}).exit_code == 0;
}

struct CrossFixture {
  std::string release;
  ckms::testkit::TempDir dir{"ckms-test-cross"};
  fs::path images = dir / "images";
  std::string image_template() const { return "oci:" + images.string() + ":{release}"; }
};

// Null when the archive is unreachable (the WARN says so).
const CrossFixture* cross_fixture() {
  static std::unique_ptr<CrossFixture> made;
  static bool tried = false;
  if (tried) return made.get();
  tried = true;
  auto f = std::make_unique<CrossFixture>();
  f->release = newest_arm64_release();
  if (!archive_reachable(f->release)) {
    WARN("skipped: Debian's archive is unreachable, so the arm64 headers of " << f->release << " cannot be fetched");
    return nullptr;
  }
  fs::permissions(f->dir.path(), fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  ckms::testkit::RunOptions options;
  options.timeout_seconds = 1800;
  const auto built =
      run_ckms({"image", "build", "--arch", "arm64", "--toolchain-tar", toolchain_tar(kCrossToolchainPackages).string(),
                "--output", "oci:" + f->images.string(), "--apt-cache",
                (ckms::testkit::download_cache() / "debs").string(), "--compression", "zstd", "--kernel", f->release},
               options);
  INFO(built.out << built.err);
  REQUIRE(built.exit_code == 0);
  made = std::move(f);
  return made.get();
}

std::string layer_bytes(ckms::oci::Target& target, const ckms::oci::Descriptor& layer) {
  auto reader = target.fetch(layer);
  return ckms::read_all(*reader, 64 << 20, layer.digest.str());
}

std::string command_output(const std::vector<std::string>& argv) {
  const auto r = run(argv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

// The module file of `release` in the layout, written to `file`, checked as an arm64
// module of that kernel by binutils and kmod.
void check_arm64_module(ckms::oci::Layout& layout, const std::string& version, const std::string& release,
                        const fs::path& file) {
  const auto resolved = ckms::artifact::resolve_module(layout, version, release);
  CHECK(resolved.config.arch == "aarch64");
  REQUIRE(!resolved.manifest.layers.empty());
  ckms::testkit::write_text(file, layer_bytes(layout, resolved.manifest.layers[0]));
  CHECK(command_output({"readelf", "-h", file.string()}).find("AArch64") != std::string::npos);
  const std::string vermagic = command_output({"modinfo", "-F", "vermagic", file.string()});
  CHECK(vermagic.starts_with(release + " "));
  CHECK(vermagic.find("aarch64") != std::string::npos);
}

// The platforms an index lists, as "os/arch os.version".
std::set<std::string> index_platforms(const std::string& index_json) {
  std::set<std::string> platforms;
  // Named: a range-for over a member of a temporary would read the temporary after its end.
  const auto index = nlohmann::json::parse(index_json);
  for (const auto& m : index.at("manifests")) {
    const auto& p = m.at("platform");
    platforms.insert(p.at("os").get<std::string>() + "/" + p.at("architecture").get<std::string>() + " " +
                     p.at("os.version").get<std::string>());
  }
  return platforms;
}

}  // namespace

TEST_CASE("arm64 on amd64: hello cross-built, signed as on amd64, one index for both architectures", "[build][cross]") {
  const CrossFixture* cross = cross_fixture();
  if (cross == nullptr) return;
  const auto& f = build_fixture();
  ckms::testkit::TempDir dir("ckms-test-cross-hello");
  copy_hello(dir / "hello");
  const fs::path out = dir / "out";
  const std::vector<std::string> common = {(dir / "hello").string(), "--sign-key",  f.key.string(),       "--sign-cert",
                                           f.cert.string(),          "--cache-dir", f.cache_dir.string(), "--output",
                                           "oci:" + out.string()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), common.begin(), common.end());
    return args;
  };
  const BuildRun amd64 = ckms_build_json(with({"--kernel", f.releases[1], "--image-template", f.image_template()}));
  REQUIRE(amd64.result.exit_code == 0);
  const BuildRun arm64 =
      ckms_build_json(with({"--kernel", cross->release, "--image-template", cross->image_template()}));
  REQUIRE(arm64.result.exit_code == 0);
  const auto& k = arm64.kernel(cross->release);
  CHECK(k.at("status") == "built");
  CHECK(k.at("plan").at("arch") == "aarch64");
  CHECK(k.at("plan")
            .at("make_invocation")
            .get<std::string>()
            .find(" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- KERNELRELEASE=" + cross->release + " ") !=
        std::string::npos);

  ckms::oci::Layout layout(out, ckms::oci::Layout::Mode::open_existing);
  const fs::path module = dir / "arm64.ko";
  check_arm64_module(layout, "1.0.0", cross->release, module);
  // Signed as on amd64: the signer ckms records, and sign-file's bytes for the same input.
  CHECK(command_output({"modinfo", "-F", "signer", module.string()}) == "ckms build test key\n");
  const std::string signed_module = ckms::testkit::read_text(module);
  const fs::path resigned = dir / "resigned.ko";
  ckms::testkit::write_text(resigned, std::string(ckms::kmod::strip_signature(signed_module, "published module")));
  command_output({sign_file_program().string(), "sha256", f.key.string(), f.cert.string(), resigned.string()});
  CHECK(ckms::testkit::read_text(resigned) == signed_module);

  // One index, both architectures: as the library, ckms inspect and skopeo read it.
  const std::set<std::string> expected = {"linux/amd64 " + f.releases[1], "linux/arm64 " + cross->release};
  CHECK(index_platforms(ckms::oci::fetch_bytes(layout, layout.resolve("1.0.0"))) == expected);
  const std::string inspected = run_ckms({"inspect", "oci:" + out.string() + ":1.0.0"}).out;
  CHECK(inspected.find("linux/arm64 " + cross->release) != std::string::npos);
  CHECK(inspected.find("linux/amd64 " + f.releases[1]) != std::string::npos);
  CHECK(index_platforms(command_output({"skopeo", "inspect", "--raw", "oci:" + out.string() + ":1.0.0"})) == expected);
}

TEST_CASE("arm64 on amd64: dkms.conf sees aarch64, as DKMS on an arm64 host would", "[build][cross]") {
  const CrossFixture* cross = cross_fixture();
  if (cross == nullptr) return;
  const auto& f = build_fixture();
  ckms::testkit::TempDir dir("ckms-test-cross-exclusive");
  copy_hello(dir / "hello");
  // $arch in a value, and BUILD_EXCLUSIVE_ARCH: built for arm64, excluded on amd64.
  const fs::path conf = dir / "hello/dkms.conf";
  ckms::testkit::write_text(
      conf, ckms::testkit::read_text(conf) + "BUILD_EXCLUSIVE_ARCH=\"^aarch64$\"\nPACKAGE_VERSION=\"1.0.0-$arch\"\n");
  const fs::path out = dir / "out";
  const BuildRun arm64 = ckms_build_json({(dir / "hello").string(), "--kernel", cross->release, "--image-template",
                                          cross->image_template(), "--no-sign", "--cache-dir", f.cache_dir.string(),
                                          "--output", "oci:" + out.string()});
  REQUIRE(arm64.result.exit_code == 0);
  CHECK(arm64.kernel(cross->release).at("status") == "built");
  CHECK(arm64.kernel(cross->release).at("version") == "1.0.0-aarch64");
  const BuildRun amd64 =
      ckms_build_json({(dir / "hello").string(), "--kernel", f.releases[1], "--image-template", f.image_template(),
                       "--no-sign", "--cache-dir", f.cache_dir.string(), "--output", "oci:" + out.string()});
  CHECK(amd64.kernel(f.releases[1]).at("status") == "excluded");
}

TEST_CASE("arm64 on amd64: a corpus package cross-built", "[build][cross]") {
  const CrossFixture* cross = cross_fixture();
  if (cross == nullptr) return;
  const auto& f = build_fixture();
  ckms::testkit::TempDir dir("ckms-test-cross-corpus");
  const fs::path tree = corpus_tree("vpoll-dkms");
  const fs::path out = dir / "out";
  const BuildRun built =
      ckms_build_json({tree.string(), "--kernel", cross->release, "--image-template", cross->image_template(),
                       "--sign-key", f.key.string(), "--sign-cert", f.cert.string(), "--cache-dir",
                       f.cache_dir.string(), "--output", "oci:" + out.string()});
  REQUIRE(built.result.exit_code == 0);
  const auto& k = built.kernel(cross->release);
  REQUIRE(k.at("status") == "built");
  ckms::oci::Layout layout(out, ckms::oci::Layout::Mode::open_existing);
  check_arm64_module(layout, k.at("version").get<std::string>(), cross->release, dir / "vpoll.ko");
}
