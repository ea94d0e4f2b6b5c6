// Publishing, indexing and resolving against a real OCI image layout on disk.

#include <catch2/catch.hpp>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "testkit.hpp"

using namespace ckms::artifact;
using ckms::Error;
using ckms::ErrorKind;
namespace fs = std::filesystem;
namespace oci = ckms::oci;

namespace {

// A module set for one kernel with made-up module bytes (publishing never reads them).
BuiltModuleSet module_set(const fs::path& dir, const std::string& version, const std::string& release) {
  const fs::path files = dir / ("files-" + version + "-" + release);
  fs::create_directories(files);
  ckms::testkit::write_text(files / "base.ko", "base module for " + release);
  ckms::testkit::write_text(files / "hello.ko", "hello module " + version + " for " + release);
  ModuleConfig config{.name = "hello", .version = version, .kernel_release = release};
  config.files = {ModuleFile{.file_name = "base.ko", .module_name = "base", .vermagic = release + " SMP"},
                  ModuleFile{.file_name = "hello.ko", .module_name = "hello", .depends = {"base"}}};
  config.provenance.created = "2026-01-01T00:00:00Z";
  return BuiltModuleSet{.config = config, .files_dir = files, .cache_key = "key-" + release};
}

oci::ImageIndex read_index(oci::Target& target, const std::string& tag) {
  const auto descriptor = target.resolve(tag);
  REQUIRE(descriptor.media_type == oci::media_type::kOciIndex);
  return oci::ImageIndex::parse(oci::fetch_bytes(target, descriptor), tag);
}

}  // namespace

TEST_CASE("a published module resolves by its per-kernel tag", "[artifact][publish]") {
  ckms::testkit::TempDir dir("ckms-artifact");
  oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
  const auto published = publish_module(layout, module_set(dir.path(), "1.0", "6.1.0-1-amd64+rt"));
  CHECK(published.tag == "1.0-6.1.0-1-amd64_rt");
  CHECK(layout.resolve(published.tag).digest == published.manifest.digest);

  const auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(layout, published.manifest), "m");
  CHECK(manifest.artifact_type == kModuleArtifactType);
  CHECK(manifest.config.media_type == kModuleConfigMediaType);
  REQUIRE(manifest.layers.size() == 2);
  CHECK(manifest.layers[0].media_type == kModuleLayerMediaType);
  CHECK(manifest.layers[0].annotation(oci::annotation::kTitle) == "base.ko");
  CHECK(manifest.layers[1].annotation(oci::annotation::kTitle) == "hello.ko");
  CHECK(manifest.layers[1].digest == ckms::digest_of("hello module 1.0 for 6.1.0-1-amd64+rt"));
  CHECK(manifest.annotations.at(std::string(kKernelReleaseAnnotation)) == "6.1.0-1-amd64+rt");

  const auto resolved = resolve_module(layout, "1.0", "6.1.0-1-amd64+rt");
  CHECK(resolved.manifest_descriptor.digest == published.manifest.digest);
  CHECK(resolved.config.kernel_release == "6.1.0-1-amd64+rt");
  CHECK(resolved.config.files[1].digest == manifest.layers[1].digest);
  CHECK(resolved.config.files[1].size == manifest.layers[1].size);
  CHECK(resolved.cache_key == "key-6.1.0-1-amd64+rt");
  CHECK(layout.verify().empty());
}

TEST_CASE("publishing refuses an invalid config before storing anything", "[artifact][publish]") {
  ckms::testkit::TempDir dir("ckms-artifact");
  oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
  auto set = module_set(dir.path(), "1.0", "6.1.0-1-amd64");
  set.config.files[0].file_name = "../base.ko";
  REQUIRE_THROWS_MATCHES(publish_module(layout, set), Error,
                         Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::usage; }));
  CHECK(layout.tags().empty());
  CHECK(fs::is_empty(dir / "layout" / "blobs" / "sha256"));
}

TEST_CASE("the index lists each kernel with its platform, sorted, in the same bytes", "[artifact][index]") {
  ckms::testkit::TempDir dir("ckms-artifact");
  oci::Layout first(dir / "first", oci::Layout::Mode::create_if_missing);
  oci::Layout second(dir / "second", oci::Layout::Mode::create_if_missing);
  const std::vector<std::string> releases{"6.1.0-9-cloud-amd64", "5.10.0-30-amd64", "6.1.0-10-cloud-amd64+x"};
  for (const auto& release : releases) publish_module(first, module_set(dir.path(), "1.0", release));
  for (auto it = releases.rbegin(); it != releases.rend(); ++it) {
    publish_module(second, module_set(dir.path(), "1.0", *it));
  }
  const auto a = update_module_index(first, "1.0");
  const auto b = update_module_index(second, "1.0");
  CHECK(a.digest == b.digest);
  CHECK(update_module_index(first, "1.0").digest == a.digest);

  const auto index = read_index(first, "1.0");
  CHECK(index.artifact_type == kModuleArtifactType);
  REQUIRE(index.manifests.size() == 3);
  std::vector<std::string> listed;
  for (const auto& entry : index.manifests) {
    REQUIRE(entry.platform);
    CHECK(entry.platform->os == "linux");
    CHECK(entry.platform->architecture == "amd64");
    CHECK(entry.annotation(kKernelReleaseAnnotation) == entry.platform->os_version);
    CHECK(first.resolve(kernel_tag("1.0", entry.platform->os_version)).digest == entry.digest);
    listed.push_back(entry.platform->os_version);
  }
  CHECK(listed == std::vector<std::string>{"5.10.0-30-amd64", "6.1.0-10-cloud-amd64+x", "6.1.0-9-cloud-amd64"});
  CHECK(published_kernels(first, "1.0") == listed);
}

TEST_CASE("the index takes only artifacts of its own version", "[artifact][index]") {
  ckms::testkit::TempDir dir("ckms-artifact");
  oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
  publish_module(layout, module_set(dir.path(), "1.0", "6.1.0-1-amd64"));
  // "1.0-rc1-6.1.0-2-amd64" starts with "1.0-" as well.
  publish_module(layout, module_set(dir.path(), "1.0-rc1", "6.1.0-2-amd64"));
  // Not a module artifact at all, under a tag that looks like one.
  const auto empty = oci::Descriptor::for_content(std::string(oci::media_type::kOciEmpty), "{}");
  oci::push_bytes(layout, empty, "{}");
  const std::string other = oci::ImageManifest{.artifact_type = "application/vnd.example", .config = empty}.serialize();
  const auto other_descriptor = oci::Descriptor::for_content(std::string(oci::media_type::kOciManifest), other);
  oci::push_bytes(layout, other_descriptor, other);
  layout.tag(other_descriptor, "1.0-notes");
  // A module artifact of 1.0 re-tagged under a name that is not its kernel's.
  layout.tag(layout.resolve("1.0-6.1.0-1-amd64"), "1.0-latest");

  update_module_index(layout, "1.0");
  update_module_index(layout, "1.0-rc1");
  CHECK(published_kernels(layout, "1.0") == std::vector<std::string>{"6.1.0-1-amd64"});
  CHECK(published_kernels(layout, "1.0-rc1") == std::vector<std::string>{"6.1.0-2-amd64"});
  CHECK(published_kernels(layout, "2.0").empty());
  CHECK_THROWS_AS(update_module_index(layout, "2.0"), Error);
}

TEST_CASE("resolving falls back to the index and names the kernels it has", "[artifact][resolve]") {
  ckms::testkit::TempDir dir("ckms-artifact");
  oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
  const auto one = publish_module(layout, module_set(dir.path(), "1.0", "6.1.0-1-amd64"));
  publish_module(layout, module_set(dir.path(), "1.0", "6.1.0-2-amd64"));
  update_module_index(layout, "1.0");

  // An index copied on its own keeps no per-kernel tags.
  layout.untag(one.tag);
  const auto resolved = resolve_module(layout, "1.0", "6.1.0-1-amd64");
  CHECK(resolved.manifest_descriptor.digest == one.manifest.digest);
  CHECK(resolved.config.kernel_release == "6.1.0-1-amd64");

  try {
    resolve_module(layout, "1.0", "6.1.0-3-amd64");
    FAIL("resolved a kernel that has no artifact");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::not_found);
    CHECK_THAT(e.what(), Catch::Contains("6.1.0-3-amd64") && Catch::Contains("6.1.0-1-amd64, 6.1.0-2-amd64"));
  }
  try {
    resolve_module(layout, "9.9", "6.1.0-1-amd64");
    FAIL("resolved a version that has no artifact");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::not_found);
  }
}

TEST_CASE("a manifest whose layers do not match its config is refused", "[artifact][resolve]") {
  ckms::testkit::TempDir dir("ckms-artifact");
  oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
  const auto published = publish_module(layout, module_set(dir.path(), "1.0", "6.1.0-1-amd64"));
  const auto original = oci::ImageManifest::parse(oci::fetch_bytes(layout, published.manifest), "m");

  const auto republish = [&](const std::function<void(oci::ImageManifest&)>& change) {
    auto manifest = original;
    change(manifest);
    const std::string bytes = manifest.serialize();
    const auto descriptor = oci::Descriptor::for_content(std::string(oci::media_type::kOciManifest), bytes);
    oci::push_bytes(layout, descriptor, bytes);
    layout.tag(descriptor, published.tag);
  };
  const auto refused = [&] {
    try {
      resolve_module(layout, "1.0", "6.1.0-1-amd64");
    } catch (const Error& e) {
      return e.kind() == ErrorKind::integrity;
    }
    return false;
  };

  SECTION("two layers swap titles") {
    republish([](auto& m) { std::swap(m.layers[0].annotations, m.layers[1].annotations); });
    CHECK(refused());
  }
  SECTION("a layer is missing") {
    republish([](auto& m) { m.layers.pop_back(); });
    CHECK(refused());
  }
  SECTION("an extra layer with a title already used") {
    republish([](auto& m) { m.layers.push_back(m.layers[0]); });
    CHECK(refused());
  }
  SECTION("a layer of another media type") {
    republish([](auto& m) { m.layers[0].media_type = "application/octet-stream"; });
    CHECK(refused());
  }
  SECTION("the kernel annotation disagrees with the config") {
    republish([](auto& m) { m.annotations[std::string(kKernelReleaseAnnotation)] = "6.1.0-2-amd64"; });
    CHECK(refused());
  }
  SECTION("not a module artifact") {
    republish([](auto& m) { m.artifact_type = "application/vnd.example"; });
    CHECK(refused());
  }
  SECTION("a Module.symvers layer the config does not describe") {
    republish([](auto& m) {
      m.layers.push_back(oci::Descriptor{.media_type = std::string(kSymversLayerMediaType),
                                         .digest = ckms::digest_of(""),
                                         .size = 0,
                                         .annotations = {{std::string(oci::annotation::kTitle), "Module.symvers"}}});
    });
    CHECK(refused());
  }
}

TEST_CASE("Module.symvers is a layer of its own, fetched back verified", "[artifact][publish]") {
  ckms::testkit::TempDir dir("ckms-test-artifact");
  oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
  auto built = module_set(dir.path(), "1.0", "6.1.0-1-amd64");
  const std::string symvers = "0x12345678\thello_answer\t/var/lib/dkms/hello/1.0/build/hello\tEXPORT_SYMBOL_GPL\t\n";
  ckms::testkit::write_text(dir / "Module.symvers", symvers);
  built.symvers_file = dir / "Module.symvers";
  publish_module(layout, built);
  const auto resolved = resolve_module(layout, "1.0", "6.1.0-1-amd64");
  REQUIRE(resolved.manifest.layers.size() == 3);
  CHECK(resolved.manifest.layers[2].media_type == kSymversLayerMediaType);
  CHECK(resolved.manifest.layers[2].annotation(oci::annotation::kTitle) == "Module.symvers");
  REQUIRE(resolved.config.symvers.has_value());
  CHECK(resolved.config.symvers->digest == ckms::digest_of(symvers));
  fetch_symvers(layout, resolved, dir / "fetched");
  CHECK(ckms::testkit::read_text(dir / "fetched") == symvers);

  // Without one: refused by name.
  publish_module(layout, module_set(dir.path(), "2.0", "6.1.0-1-amd64"));
  const auto without = resolve_module(layout, "2.0", "6.1.0-1-amd64");
  CHECK_THROWS_WITH(fetch_symvers(layout, without, dir / "none"), Catch::Contains("carries no Module.symvers"));
  CHECK_FALSE(fs::exists(dir / "none"));
}
