// Module artifacts and their index in a real registry and a real OCI layout, read back by
// ckms and by skopeo.

#include <fstream>
#include <latch>
#include <thread>

#include <catch2/catch.hpp>

#include "artifact_testing.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/copy.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "require_error.hpp"
#include "testkit.hpp"

using namespace ckms::artifact;
using ckms::Error;
using ckms::ErrorKind;
using ckms::testkit::error_kind;
using ckms::testkit::run;
using ckms::testkit::TempDir;
namespace fs = std::filesystem;
namespace oci = ckms::oci;

namespace {

// Kernel release strings only name what an artifact was built for; none is installed here.
const std::string kOld = "6.1.0-0-test-amd64";
const std::string kNew = "6.1.0-1-test-amd64+rt";

oci::ImageIndex read_index(oci::Target& target, const std::string& tag) {
  const auto descriptor = target.resolve(tag);
  REQUIRE(descriptor.media_type == oci::media_type::kOciIndex);
  return oci::ImageIndex::parse(oci::fetch_bytes(target, descriptor), tag);
}

std::string read_all(oci::Target& target, const oci::Descriptor& blob) {
  auto reader = target.fetch(blob);
  return ckms::read_all(*reader, std::size_t{1} << 20, "blob");
}

// Flips one byte of a stored file without changing its size.
void flip_byte(const fs::path& file) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekg(10);
  char c = 0;
  f.get(c);
  f.seekp(10);
  f.put(static_cast<char>(c ^ 0x20));
  REQUIRE(f.good());
}

// Publishes both kernels and the index into `target`, then checks everything a loader and
// a generic OCI tool would read.
void publish_two_kernels_and_check(oci::Target& target, const fs::path& scratch) {
  const auto old_published = publish_module(target, test::module_set(scratch, "1.0", kOld));
  const auto new_published = publish_module(target, test::module_set(scratch, "1.0", kNew));
  CHECK(new_published.tag == "1.0-6.1.0-1-test-amd64_rt");
  const auto index_descriptor = update_module_index(target, "1.0");
  CHECK(target.resolve("1.0").digest == index_descriptor.digest);

  const auto index = read_index(target, "1.0");
  CHECK(index.artifact_type == kModuleArtifactType);
  REQUIRE(index.manifests.size() == 2);
  for (const auto& [entry, release, published] :
       {std::tuple{index.manifests[0], kOld, old_published}, std::tuple{index.manifests[1], kNew, new_published}}) {
    CHECK(entry.digest == published.manifest.digest);
    CHECK(entry.media_type == oci::media_type::kOciManifest);
    CHECK(entry.artifact_type == kModuleArtifactType);
    REQUIRE(entry.platform);
    CHECK(entry.platform->os == "linux");
    CHECK(entry.platform->architecture == "amd64");
    CHECK(entry.platform->os_version == release);
    CHECK(entry.annotation(kKernelReleaseAnnotation) == release);
  }
  CHECK(published_kernels(target, "1.0") == std::vector<std::string>{kOld, kNew});

  for (const auto& release : {kOld, kNew}) {
    const auto resolved = resolve_module(target, "1.0", release);
    CHECK(resolved.config.kernel_release == release);
    CHECK(resolved.config.default_parameters.at("hello").at("greeting") == "hi");
    CHECK(resolved.cache_key == "cache-" + release);
    REQUIRE(resolved.manifest.layers.size() == 2);
    // The layer bytes are the files as built.
    CHECK(read_all(target, resolved.manifest.layers[1]) ==
          ckms::testkit::read_text(scratch / ("files-1.0-" + release) / "hello.ko"));
  }

  // A registry that points one kernel's tag at another kernel's artifact gets a refusal,
  // not a "not found" that would send a node looking elsewhere.
  target.tag(old_published.manifest, kernel_tag("1.0", "6.1.0-3-test-amd64"));
  try {
    resolve_module(target, "1.0", "6.1.0-3-test-amd64");
    FAIL("a re-tagged artifact resolved");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::refused);
    CHECK_THAT(e.what(), Catch::Contains("wrong kernel") && Catch::Contains(kOld));
  }

  try {
    resolve_module(target, "1.0", "6.1.0-2-test-amd64");
    FAIL("a kernel without an artifact resolved");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::not_found);
    CHECK_THAT(e.what(), Catch::Contains("6.1.0-2-test-amd64") && Catch::Contains(kOld + ", " + kNew));
  }
}

}  // namespace

TEST_CASE("two kernels published to a registry are indexed and resolved", "[artifact][registry]") {
  TempDir dir("ckms-artifact");
  auto repo = test::repository("two-kernels");
  publish_two_kernels_and_check(*repo, dir.path());
}

TEST_CASE("two kernels published to an OCI layout are indexed and resolved", "[artifact][layout]") {
  TempDir dir("ckms-artifact");
  oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
  publish_two_kernels_and_check(layout, dir.path());
  CHECK(layout.verify().empty());
}

TEST_CASE("a tampered layer is caught when it is fetched", "[artifact][registry][layout]") {
  TempDir dir("ckms-artifact");
  SECTION("in a registry's storage") {
    auto repo = test::repository("tampered");
    publish_module(*repo, test::module_set(dir.path(), "1.0", kOld));
    const auto resolved = resolve_module(*repo, "1.0", kOld);
    flip_byte(test::registry_blob_file(resolved.config.files[1].digest));
    CHECK(error_kind([&] { read_all(*repo, resolved.manifest.layers[1]); }) == ErrorKind::integrity);
  }
  SECTION("in a layout") {
    oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
    publish_module(layout, test::module_set(dir.path(), "1.0", kOld));
    const auto resolved = resolve_module(layout, "1.0", kOld);
    flip_byte(layout.blob_path(resolved.config.files[1].digest));
    CHECK(error_kind([&] { read_all(layout, resolved.manifest.layers[1]); }) == ErrorKind::integrity);
    // Copying it on (what a loader's cache does) refuses it as well, and keeps nothing.
    oci::Layout cache(dir / "cache", oci::Layout::Mode::create_if_missing);
    CHECK(error_kind([&] { oci::copy(layout, kernel_tag("1.0", kOld), cache, std::nullopt); }) == ErrorKind::integrity);
    CHECK_FALSE(fs::exists(cache.blob_path(resolved.config.files[1].digest)));
  }
  SECTION("a tampered config is caught when resolving") {
    oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
    publish_module(layout, test::module_set(dir.path(), "1.0", kOld));
    const auto resolved = resolve_module(layout, "1.0", kOld);
    flip_byte(layout.blob_path(resolved.manifest.config.digest));
    CHECK(error_kind([&] { resolve_module(layout, "1.0", kOld); }) == ErrorKind::integrity);
  }
}

TEST_CASE("skopeo reads module artifacts and copies them to a layout ckms resolves", "[artifact][skopeo]") {
  if (!ckms::testkit::have_program("skopeo")) FAIL("skopeo is not installed (scripts/install-deps.sh)");
  TempDir dir("ckms-artifact");
  auto repo = test::repository("skopeo");
  const auto old_published = publish_module(*repo, test::module_set(dir.path(), "2.0", kOld));
  publish_module(*repo, test::module_set(dir.path(), "2.0", kNew));
  const auto index_descriptor = update_module_index(*repo, "2.0");
  const std::string base = "docker://" + test::registry().host() + "/ckms/skopeo:";

  const auto raw = run({"skopeo", "inspect", "--raw", "--tls-verify=false", base + old_published.tag});
  INFO(raw.err);
  REQUIRE(raw.exit_code == 0);
  CHECK(ckms::digest_of(raw.out) == old_published.manifest.digest);
  const auto raw_index = run({"skopeo", "inspect", "--raw", "--tls-verify=false", base + "2.0"});
  REQUIRE(raw_index.exit_code == 0);
  CHECK(ckms::digest_of(raw_index.out) == index_descriptor.digest);

  SECTION("one kernel's manifest") {
    const auto copied = run({"skopeo", "copy", "--tls-verify=false", base + old_published.tag,
                             "oci:" + (dir / "copy").string() + ":" + old_published.tag});
    INFO(copied.err);
    REQUIRE(copied.exit_code == 0);
    oci::Layout layout(dir / "copy", oci::Layout::Mode::open_existing);
    const auto resolved = resolve_module(layout, "2.0", kOld);
    CHECK(resolved.manifest_descriptor.digest == old_published.manifest.digest);
    CHECK(read_all(layout, resolved.manifest.layers[0]) ==
          ckms::testkit::read_text(dir / ("files-2.0-" + kOld) / "base.ko"));
  }
  SECTION("the whole index: resolved through it, without per-kernel tags") {
    const auto copied =
        run({"skopeo", "copy", "--all", "--tls-verify=false", base + "2.0", "oci:" + (dir / "copy").string() + ":2.0"});
    INFO(copied.err);
    REQUIRE(copied.exit_code == 0);
    oci::Layout layout(dir / "copy", oci::Layout::Mode::open_existing);
    CHECK(layout.tags() == std::vector<std::string>{"2.0"});
    CHECK(resolve_module(layout, "2.0", kNew).config.kernel_release == kNew);
    CHECK(resolve_module(layout, "2.0", kOld).manifest_descriptor.digest == old_published.manifest.digest);
    CHECK(layout.verify().empty());
  }
}

namespace {

// Two builders publish one kernel each for the same version at the same moment and update
// the index; repeated over several versions so the interleavings vary.
void race_two_writers(const std::function<std::unique_ptr<oci::Target>()>& open, const fs::path& scratch) {
  constexpr int kVersions = 6;
  for (int v = 0; v < kVersions; ++v) {
    const std::string version = "3." + std::to_string(v);
    std::latch start(2);
    std::vector<std::string> errors(2);
    const auto writer = [&](int which) {
      try {
        auto target = open();
        auto set = test::module_set(scratch, version, which == 0 ? kOld : kNew);
        start.arrive_and_wait();
        publish_module(*target, set);
        const auto own = update_module_index(*target, version);
        // Each writer's own result holds at least its own kernel.
        const auto index = oci::ImageIndex::parse(oci::fetch_bytes(*target, own), "own");
        bool has_own = false;
        for (const auto& e : index.manifests) has_own |= e.platform->os_version == set.config.kernel_release;
        if (!has_own) errors[which] = "own index lacks its kernel";
      } catch (const std::exception& e) {
        errors[which] = e.what();
      }
    };
    std::thread a(writer, 0);
    std::thread b(writer, 1);
    a.join();
    b.join();
    INFO("version " << version);
    CHECK(errors == std::vector<std::string>{"", ""});
    auto target = open();
    // Both updates have returned: the index that landed last holds both kernels.
    CHECK(published_kernels(*target, version) == std::vector<std::string>{kOld, kNew});
    // And after each writer has called update once more, certainly.
    update_module_index(*target, version);
    update_module_index(*open(), version);
    CHECK(published_kernels(*target, version) == std::vector<std::string>{kOld, kNew});
  }
}

}  // namespace

TEST_CASE("two writers racing on one index both end up in it", "[artifact][race]") {
  TempDir dir("ckms-artifact");
  SECTION("a registry") {
    race_two_writers([] { return std::unique_ptr<oci::Target>(test::repository("race")); }, dir.path());
  }
  SECTION("an OCI layout") {
    race_two_writers(
        [&] { return std::make_unique<oci::Layout>(dir / "layout", oci::Layout::Mode::create_if_missing); },
        dir.path());
  }
}

namespace {

// A real target that runs `between` once, right after its first tag listing: the moment
// where a writer's view of the tags goes stale.
class StaleListingTarget final : public oci::Target {
 public:
  StaleListingTarget(oci::Target& inner, std::function<void()> between) : inner_(inner), between_(std::move(between)) {}
  std::string describe() const override { return inner_.describe(); }
  oci::Descriptor resolve(std::string_view r) override { return inner_.resolve(r); }
  bool exists(const oci::Descriptor& d) override { return inner_.exists(d); }
  std::unique_ptr<ckms::Reader> fetch(const oci::Descriptor& d) override { return inner_.fetch(d); }
  oci::Stored push(const oci::Descriptor& d, ckms::Reader& content, const ckms::ProgressFn& progress) override {
    return inner_.push(d, content, progress);
  }
  void tag(const oci::Descriptor& d, std::string_view t) override { inner_.tag(d, t); }
  std::vector<std::string> tags() override {
    auto listed = inner_.tags();
    if (auto hook = std::exchange(between_, nullptr)) hook();
    return listed;
  }
  std::vector<oci::Descriptor> referrers(const oci::Descriptor& s, std::optional<std::string_view> t) override {
    return inner_.referrers(s, t);
  }

 private:
  oci::Target& inner_;
  std::function<void()> between_;
};

}  // namespace

TEST_CASE("an index written from a stale listing is rebuilt by its own writer", "[artifact][race]") {
  // Writer A lists the tags (only its own kernel), then writer B publishes its kernel and
  // completes its update, and only then does A push its index, which lacks B. A's check
  // after pushing sees the tags moved and rebuilds, so the index that stays has both.
  TempDir dir("ckms-artifact");
  auto repo = test::repository("stale-listing");
  publish_module(*repo, test::module_set(dir.path(), "4.0", kOld));
  bool b_ran = false;
  StaleListingTarget a(*repo, [&] {
    auto b = test::repository("stale-listing");
    publish_module(*b, test::module_set(dir.path(), "4.0", kNew));
    update_module_index(*b, "4.0");
    b_ran = true;
  });
  const auto own = update_module_index(a, "4.0");
  REQUIRE(b_ran);
  CHECK(repo->resolve("4.0").digest == own.digest);
  CHECK(published_kernels(*repo, "4.0") == std::vector<std::string>{kOld, kNew});
}
