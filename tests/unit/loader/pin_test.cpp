// Digest pins (REPO@sha256:...): the digest of a per-kernel manifest, or of a module index
// whose entry for the kernel is taken; a digest the source does not hold, or whose bytes do
// not hash to it, is refused with nothing inserted and the cache as it was.

#include <fstream>

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/loader/boot_config.hpp"
#include "ckms/loader/load.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/media_types.hpp"
#include "loader_fixture.hpp"
#include "require_error.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;
using testkit::require_error;

namespace {

LoadRequest pinned(const LoaderFixture& f, const std::string& package, const std::string& pin) {
  LoadRequest r{.reference = oci::Reference::parse(fmt::format("oci:{}@{}", f.source(package).string(), pin))};
  r.trust = {keys().trusted_cert};
  return r;
}

// The same package for the running kernel and another one, and the `1.0.0` index over both.
struct TwoKernels {
  artifact::PublishedModule running, other;
  oci::Descriptor index;
};

TwoKernels publish_two_kernels(LoaderFixture& f) {
  auto running = f.publish("ckms-tiny", {{.name = "ckms_tiny"}});
  auto other = f.publish("ckms-tiny", {{.name = "ckms_tiny", .built_for = std::string(kOtherRelease)}}, {},
                         std::string(kOtherRelease));
  oci::Layout layout(f.source("ckms-tiny"), oci::Layout::Mode::open_existing);
  auto index = artifact::update_module_index(layout, "1.0.0");
  return TwoKernels{.running = std::move(running), .other = std::move(other), .index = std::move(index)};
}

void overwrite(const fs::path& file, const std::string& bytes) {
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace

TEST_CASE("a pin by manifest digest loads that manifest", "[loader][pin]") {
  LoaderFixture f;
  const auto published = publish_two_kernels(f);
  const auto report = load(pinned(f, "ckms-tiny", published.running.manifest.digest.str()), f.paths, f.kernel);
  CHECK(f.kernel.insertions == std::vector<std::string>{"ckms_tiny"});
  CHECK(report.manifest == published.running.manifest.digest);
  CHECK(report.version == "1.0.0");
  CHECK(report.cache_name.ends_with(":1.0.0-" + std::string(kRelease)));
}

TEST_CASE("a pin by index digest takes the running kernel's entry", "[loader][pin]") {
  LoaderFixture f;
  const auto published = publish_two_kernels(f);
  REQUIRE(published.index.media_type == oci::media_type::kOciIndex);
  const auto report = load(pinned(f, "ckms-tiny", published.index.digest.str()), f.paths, f.kernel);
  CHECK(f.kernel.insertions == std::vector<std::string>{"ckms_tiny"});
  CHECK(report.manifest == published.running.manifest.digest);

  // Offline, the pinned manifest is found in the cache by its digest.
  f.kernel.loaded.clear();
  auto offline = pinned(f, "ckms-tiny", published.running.manifest.digest.str());
  offline.network = NetworkMode::offline;
  const auto again = load(offline, f.paths, f.kernel, nullptr, {});
  CHECK(again.from_cache);
  CHECK(again.manifest == published.running.manifest.digest);
}

TEST_CASE("a pin the source does not hold, or whose bytes differ, is refused with nothing loaded", "[loader][pin]") {
  LoaderFixture f;
  const auto published = publish_two_kernels(f);
  const std::string cache_before = f.cache_fingerprint();

  require_error([&] { load(pinned(f, "ckms-tiny", ckms::digest_of("not published").str()), f.paths, f.kernel); },
                ErrorKind::not_found, "no manifest");

  // The blob stored under the index's digest no longer hashes to it.
  const fs::path index_blob =
      oci::Layout(f.source("ckms-tiny"), oci::Layout::Mode::open_existing).blob_path(published.index.digest);
  overwrite(index_blob, R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})");
  require_error([&] { load(pinned(f, "ckms-tiny", published.index.digest.str()), f.paths, f.kernel); },
                ErrorKind::integrity, published.index.digest.str());

  // A manifest pinned for another kernel is not loaded into this one.
  require_error([&] { load(pinned(f, "ckms-tiny", published.other.manifest.digest.str()), f.paths, f.kernel); },
                ErrorKind::refused, "wrong kernel");

  CHECK(f.kernel.insertions.empty());
  CHECK(f.cache_fingerprint() == cache_before);
}

TEST_CASE("modules.d takes a digest pin as the artifact", "[loader][pin]") {
  testkit::TempDir dir("ckms-test-pin");
  const std::string pin = ckms::digest_of("an index").str();
  testkit::write_text(dir / "pinned.yaml", "artifact: r.example/ckms/hello@" + pin + "\n");
  const auto entry = read_boot_entry(dir / "pinned.yaml");
  REQUIRE(entry.request.reference.digest());
  CHECK(entry.request.reference.digest()->str() == pin);
  CHECK_FALSE(entry.request.reference.tag());
}

}  // namespace ckms::loader::test
