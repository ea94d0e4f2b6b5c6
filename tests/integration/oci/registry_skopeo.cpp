// Interop with skopeo: an OCI layout image that skopeo copies into the registry is what
// ckms resolves and fetches, and what ckms pushes is what skopeo reads back.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "ckms/oci/registry.hpp"
#include "registry_fixture.hpp"
#include "registry_test_util.hpp"

using namespace ckms;
using namespace ckms::oci;
namespace fs = std::filesystem;

namespace {

void write_blob(const fs::path& layout, const std::string& bytes) {
  const fs::path dir = layout / "blobs" / "sha256";
  fs::create_directories(dir);
  testkit::write_text(dir / digest_of(bytes).hex(), bytes);
}

}  // namespace

TEST_CASE("skopeo and ckms agree on content in the registry") {
  if (!testkit::have_program("skopeo")) {
    WARN("skopeo is not installed: interop not checked");
    return;
  }
  testkit::RegistryFixture registry(testkit::RegistrySetup::open_http);
  testkit::TempDir dir("ckms-test-");

  // A real gzip layer (an uncompressed one skopeo would compress on the way, changing the
  // manifest): a tar of one file, made by tar and gzip.
  fs::create_directories(dir / "root");
  testkit::write_text(dir / "root" / "hello.txt", "hello from ckms\n");
  const auto tar =
      testkit::run({"tar", "-C", (dir / "root").string(), "-cf", (dir / "layer.tar").string(), "hello.txt"});
  REQUIRE(tar.exit_code == 0);
  const std::string diff_id = digest_of(testkit::read_text(dir / "layer.tar")).str();
  REQUIRE(testkit::run({"gzip", "-n", (dir / "layer.tar").string()}).exit_code == 0);
  const std::string layer = testkit::read_text(dir / "layer.tar.gz");
  const std::string config =
      nlohmann::json{
          {"architecture", "amd64"}, {"os", "linux"}, {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}}}
          .dump();
  const ImageManifest manifest{std::string(media_type::kOciManifest),
                               std::nullopt,
                               Descriptor::for_content(std::string(media_type::kOciConfig), config),
                               {Descriptor::for_content(std::string(media_type::kOciLayerGzip), layer)},
                               std::nullopt,
                               {}};
  const std::string manifest_bytes = manifest.serialize();
  const Descriptor manifest_descriptor = Descriptor::for_content(manifest.media_type, manifest_bytes);
  const fs::path layout = dir / "layout";
  write_blob(layout, layer);
  write_blob(layout, config);
  write_blob(layout, manifest_bytes);
  testkit::write_text(layout / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  nlohmann::json entry;
  to_json(entry, manifest_descriptor);
  entry["annotations"] = {{"org.opencontainers.image.ref.name", "v1"}};
  testkit::write_text(layout / "index.json", nlohmann::json{{"schemaVersion", 2}, {"manifests", {entry}}}.dump());

  const std::string destination = "docker://" + registry.host() + "/interop/image:v1";
  const auto copy =
      testkit::run({"skopeo", "copy", "--dest-tls-verify=false", "oci:" + layout.string() + ":v1", destination});
  INFO(copy.err);
  REQUIRE(copy.exit_code == 0);

  RegistryRepository repo(registry.reference("interop/image"), registry.options());
  const Descriptor resolved = repo.resolve("v1");
  CHECK(resolved.digest == manifest_descriptor.digest);
  const ImageManifest pulled = ImageManifest::parse(fetch_bytes(repo, resolved), "pulled manifest");
  REQUIRE(pulled.layers.size() == 1);
  auto reader = repo.fetch(pulled.layers[0]);
  CHECK(read_all(*reader, 1 << 20, "layer") == layer);
  CHECK(fetch_bytes(repo, pulled.config) == config);

  // The other way: what ckms pushes, skopeo reads with the same digest.
  RegistryRepository ours(registry.reference("interop/ours"), registry.options());
  const auto image = test::push_image(ours, 500, 20);
  ours.tag(image.manifest, "v2");
  const auto inspect = testkit::run(
      {"skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + registry.host() + "/interop/ours:v2"});
  INFO(inspect.err);
  REQUIRE(inspect.exit_code == 0);
  CHECK(digest_of(inspect.out) == image.manifest.digest);
}
