// Streamed uploads and concurrent copies between two real docker-registry instances, and
// what a connection cut in the middle of a streamed upload leaves behind.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/copy.hpp"
#include "ckms/oci/registry.hpp"
#include "cutting_proxy.hpp"
#include "registry_fixture.hpp"
#include "registry_test_util.hpp"

using namespace ckms;
using namespace ckms::oci;
using test::CuttingProxy;
using testkit::RegistryFixture;
using testkit::RegistrySetup;
namespace fs = std::filesystem;

namespace {

// Hands out its content a few hundred bytes at a time, as a network source would.
class TrickleReader final : public Reader {
 public:
  explicit TrickleReader(std::string content) : content_(std::move(content)) {}
  std::size_t read(std::span<std::byte> buffer) override {
    const std::size_t n = std::min({buffer.size(), content_.size() - offset_, std::size_t{700}});
    std::memcpy(buffer.data(), content_.data() + offset_, n);
    offset_ += n;
    return n;
  }

 private:
  std::string content_;
  std::size_t offset_ = 0;
};

// An image whose layers are on both sides of the buffered-upload limit.
struct Image {
  Descriptor manifest;
  std::vector<Descriptor> layers;
  std::vector<std::string> layer_bytes;
};

Image push_layered_image(Target& target, const std::vector<std::size_t>& sizes) {
  std::vector<Descriptor> layers;
  std::vector<std::string> layer_bytes;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    layer_bytes.push_back(test::random_bytes(sizes[i], static_cast<unsigned>(100 + i)));
    layers.push_back(test::push_blob(target, media_type::kOciLayerGzip, layer_bytes.back()));
  }
  const Descriptor config = test::push_blob(target, media_type::kOciConfig, R"({"architecture":"amd64","os":"linux"})");
  const ImageManifest manifest{std::string(media_type::kOciManifest), std::nullopt, config, layers, std::nullopt, {}};
  const std::string bytes = manifest.serialize();
  Image image{Descriptor::for_content(manifest.media_type, bytes), std::move(layers), std::move(layer_bytes)};
  push_bytes(target, image.manifest, bytes);
  return image;
}

int port_of(const RegistryFixture& registry) {
  return std::stoi(registry.host().substr(registry.host().find(':') + 1));
}

// Files under the registry's storage whose path contains `part` (blob data, upload sessions).
std::vector<fs::path> stored(const RegistryFixture& registry, std::string_view part) {
  std::vector<fs::path> out;
  if (!fs::exists(registry.storage())) return out;
  for (const auto& entry : fs::recursive_directory_iterator(registry.storage())) {
    if (entry.path().string().find(part) != std::string::npos) out.push_back(entry.path());
  }
  return out;
}

class PeakObserver final : public CopyObserver {
 public:
  void started(const Descriptor&) override { peak_ = std::max(peak_, ++in_flight_); }
  void finished(const Descriptor&, Outcome) override { --in_flight_; }
  int peak() const { return peak_; }

 private:
  int in_flight_ = 0;
  int peak_ = 0;
};

}  // namespace

TEST_CASE("a large blob streams up in one PATCH, also without a known size") {
  RegistryFixture registry(RegistrySetup::open_http);
  RegistryRepository repo(registry.reference("ckms/streamed"), registry.options());
  const std::string bytes = test::random_bytes(3 << 20, 40);
  Descriptor descriptor = Descriptor::for_content(std::string(media_type::kOciLayerTar), bytes);
  const bool known_size = GENERATE(true, false);
  if (!known_size) descriptor.size = -1;  // chunked transfer encoding
  std::uint64_t reported = 0;
  TrickleReader content(bytes);
  repo.push(descriptor, content, [&](std::uint64_t n) { reported = std::max(reported, n); });
  CHECK(reported >= bytes.size());
  descriptor.size = static_cast<std::int64_t>(bytes.size());
  REQUIRE(repo.exists(descriptor));
  auto reader = repo.fetch(descriptor);
  CHECK(read_all(*reader, 4 << 20, "blob") == bytes);
}

TEST_CASE("a copy between registries moves layers concurrently and keeps every digest") {
  RegistryFixture source_registry(RegistrySetup::open_http);
  RegistryFixture destination_registry(RegistrySetup::token);
  RegistryRepository source(source_registry.reference("ckms/image"), source_registry.options());
  const Image image = push_layered_image(source, {5 << 20, 3 << 20, 2 << 20, 4 << 20, 300 << 10, 1000});
  source.tag(image.manifest, "v1");

  RegistryRepository destination(destination_registry.reference("ckms/copied"), destination_registry.options());
  PeakObserver observer;
  const CopyResult result = copy(source, "v1", destination, "v1", CopyOptions{.observer = &observer, .concurrency = 4});
  CHECK(result.root.digest == image.manifest.digest);
  CHECK(result.blobs_uploaded == image.layers.size() + 2);
  CHECK(observer.peak() > 1);
  CHECK(destination.resolve("v1").digest == image.manifest.digest);
  for (std::size_t i = 0; i < image.layers.size(); ++i) {
    auto reader = destination.fetch(image.layers[i]);
    CHECK(read_all(*reader, 8 << 20, "layer") == image.layer_bytes[i]);
  }

  SECTION("a second copy finds everything present") {
    const CopyResult again = copy(source, "v1", destination, "v2");
    CHECK(again.blobs_uploaded == 0);
    CHECK(destination.resolve("v2").digest == image.manifest.digest);
  }
}

TEST_CASE("a connection cut during a streamed upload leaves nothing in the registry") {
  RegistryFixture registry(RegistrySetup::open_http);
  CuttingProxy proxy(port_of(registry), CuttingProxy::Direction::requests, 1 << 20);
  RegistryReference through_proxy = registry.reference("ckms/cut");
  through_proxy.registry = proxy.authority();
  RegistryRepository repo(through_proxy, registry.options());
  const std::string bytes = test::random_bytes(3 << 20, 41);
  const Descriptor descriptor = Descriptor::for_content(std::string(media_type::kOciLayerTar), bytes);
  StringReader content(bytes);
  try {
    repo.push(descriptor, content);
    FAIL("the push survived a cut connection");
  } catch (const InterruptedUpload& e) {
    CHECK(e.kind() == ErrorKind::network);
    CHECK_THAT(e.what(), Catch::Contains(descriptor.digest.str()));
  }
  CHECK(proxy.cuts() == 1);
  RegistryRepository direct(registry.reference("ckms/cut"), registry.options());
  CHECK_FALSE(direct.exists(descriptor));
  // No blob data under the digest. (The partial bytes stay in the session's scratch area:
  // docker-registry refuses the cancelling DELETE once the bytes it stored no longer match the
  // session's state token, and purges such sessions itself later.)
  CHECK(stored(registry, descriptor.digest.hex()).empty());
}

namespace {

// An image tagged v1 in one registry, and a copy's destination in another reached through a
// proxy that cuts the first request carrying more than 1 MiB.
struct CutCopy {
  CutCopy() { source.tag(image.manifest, "v1"); }

  static RegistryReference through(const RegistryFixture& registry, const CuttingProxy& proxy) {
    RegistryReference reference = registry.reference("ckms/copied");
    reference.registry = proxy.authority();
    return reference;
  }

  RegistryFixture source_registry{RegistrySetup::open_http};
  RegistryFixture destination_registry{RegistrySetup::open_http};
  RegistryRepository source{source_registry.reference("ckms/image"), source_registry.options()};
  const Image image = push_layered_image(source, {3 << 20});
  CuttingProxy proxy{port_of(destination_registry), CuttingProxy::Direction::requests, 1 << 20};
  RegistryRepository destination{through(destination_registry, proxy), destination_registry.options()};
  RegistryRepository direct{destination_registry.reference("ckms/copied"), destination_registry.options()};
};

}  // namespace

TEST_CASE("a copy whose upload is cut off starts the blob over and completes") {
  CutCopy cut;
  const CopyResult result = copy(cut.source, "v1", cut.destination, "v1");
  CHECK(cut.proxy.cuts() == 1);
  CHECK(result.root.digest == cut.image.manifest.digest);
  CHECK(cut.direct.resolve("v1").digest == cut.image.manifest.digest);
  auto reader = cut.direct.fetch(cut.image.layers[0]);
  CHECK(read_all(*reader, 4 << 20, "layer") == cut.image.layer_bytes[0]);
}

TEST_CASE("a copy allowed a single try fails on a cut upload and no manifest appears") {
  CutCopy cut;
  CHECK_THROWS_AS(copy(cut.source, "v1", cut.destination, "v1", CopyOptions{.blob_attempts = 1}), InterruptedUpload);
  CHECK(cut.proxy.cuts() == 1);
  CHECK_FALSE(cut.direct.exists(cut.image.manifest));
  CHECK_FALSE(cut.direct.exists(cut.image.layers[0]));
  CHECK(stored(cut.destination_registry, cut.image.layers[0].digest.hex()).empty());
}
