// copy() moves the blobs of a manifest on several threads: digests are preserved, observer
// calls never overlap, and one bad blob fails the copy without a manifest appearing.

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "ckms/base/error.hpp"
#include "ckms/oci/copy.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "testkit.hpp"

using namespace ckms::oci;
namespace fs = std::filesystem;

namespace {

std::string pattern(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  std::uint32_t state = seed * 2654435761u + 1;
  for (char& c : out) {
    state = state * 1664525u + 1013904223u;
    c = static_cast<char>(state >> 24);
  }
  return out;
}

struct Image {
  Descriptor manifest;
  std::vector<Descriptor> layers;
};

Image push_image(Target& target, int layer_count) {
  std::vector<Descriptor> layers;
  for (int i = 0; i < layer_count; ++i) {
    const std::string bytes =
        pattern(static_cast<std::size_t>(64 << 10) * static_cast<std::size_t>(i + 1), static_cast<unsigned>(i));
    layers.push_back(Descriptor::for_content("application/octet-stream", bytes));
    push_bytes(target, layers.back(), bytes);
  }
  const Descriptor config = Descriptor::for_content(std::string(media_type::kOciEmpty), "{}");
  push_bytes(target, config, "{}");
  const ImageManifest manifest{.artifact_type = "application/vnd.test", .config = config, .layers = layers};
  const std::string bytes = manifest.serialize();
  Image image{Descriptor::for_content(std::string(media_type::kOciManifest), bytes), std::move(layers)};
  push_bytes(target, image.manifest, bytes);
  return image;
}

// Records events and fails the test when two calls overlap.
class RecordingObserver final : public CopyObserver {
 public:
  void started(const Descriptor& blob) override {
    enter();
    started_.push_back(blob.digest);
    ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_, in_flight_);
    leave();
  }
  void advanced(const Descriptor&, std::uint64_t) override {
    enter();
    ++advances_;
    leave();
  }
  void finished(const Descriptor& blob, Outcome outcome) override {
    enter();
    if (outcome != Outcome::copied) unexpected_outcome_ = true;  // no Catch2 assertions off the main thread
    --in_flight_;
    finished_.push_back(blob.digest);
    leave();
  }

  std::vector<ckms::Digest> started_, finished_;
  int in_flight_ = 0, max_in_flight_ = 0, advances_ = 0;
  bool overlapped_ = false;
  bool unexpected_outcome_ = false;

 private:
  void enter() {
    if (inside_.exchange(true)) overlapped_ = true;
  }
  void leave() { inside_ = false; }
  std::atomic<bool> inside_{false};
};

}  // namespace

TEST_CASE("a concurrent copy preserves every digest and reports each blob once") {
  ckms::testkit::TempDir dir("ckms-test-");
  Layout source(dir / "source", Layout::Mode::create_if_missing);
  Layout destination(dir / "destination", Layout::Mode::create_if_missing);
  const Image image = push_image(source, 8);
  source.tag(image.manifest, "v1");

  const int concurrency = GENERATE(1, 4);
  RecordingObserver observer;
  const CopyResult result =
      copy(source, "v1", destination, "v1", CopyOptions{.observer = &observer, .concurrency = concurrency});

  CHECK(result.root.digest == image.manifest.digest);
  CHECK(result.blobs_uploaded == 10);  // 8 layers, the config, the manifest
  CHECK(destination.resolve("v1").digest == image.manifest.digest);
  CHECK(destination.verify().empty());
  for (const auto& layer : image.layers) {
    REQUIRE(destination.exists(layer));
    CHECK(fetch_bytes(destination, layer) == fetch_bytes(source, layer));
  }
  CHECK_FALSE(observer.overlapped_);
  CHECK_FALSE(observer.unexpected_outcome_);
  CHECK(observer.started_.size() == 9);
  CHECK(observer.finished_.size() == 9);
  CHECK(std::set<ckms::Digest>(observer.started_.begin(), observer.started_.end()).size() == 9);
  CHECK(observer.in_flight_ == 0);
  CHECK(observer.advances_ > 0);
  if (concurrency == 1) CHECK(observer.max_in_flight_ == 1);
}

TEST_CASE("a bad blob fails a concurrent copy and no manifest appears") {
  ckms::testkit::TempDir dir("ckms-test-");
  Layout source(dir / "source", Layout::Mode::create_if_missing);
  Layout destination(dir / "destination", Layout::Mode::create_if_missing);
  const Image image = push_image(source, 6);
  source.tag(image.manifest, "v1");
  // Damage one layer in place (the store keeps blobs read-only).
  const fs::path damaged = source.blob_path(image.layers[3].digest);
  fs::permissions(damaged, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(damaged, std::ios::binary | std::ios::in | std::ios::out).write("X", 1);

  try {
    copy(source, "v1", destination, "v1", CopyOptions{.concurrency = 4});
    FAIL("copied a damaged blob");
  } catch (const ckms::Error& e) {
    CHECK(e.kind() == ckms::ErrorKind::integrity);
    CHECK_THAT(e.what(), Catch::Contains(image.layers[3].digest.str()));
  }
  CHECK_FALSE(destination.exists(image.layers[3]));
  CHECK_FALSE(destination.exists(image.manifest));
  CHECK(destination.entries().empty());
}
