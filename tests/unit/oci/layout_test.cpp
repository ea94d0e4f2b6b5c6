#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/copy.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "testkit.hpp"

using namespace ckms::oci;
namespace fs = std::filesystem;

namespace {

Descriptor push_text(Target& target, std::string media_type, const std::string& content) {
  auto d = Descriptor::for_content(std::move(media_type), content);
  push_bytes(target, d, content);
  return d;
}

// A two-layer artifact manifest, pushed blob by blob.
Descriptor push_artifact(Target& target, const std::string& a, const std::string& b) {
  ImageManifest m{
      .artifact_type = "application/vnd.test",
      .config = push_text(target, std::string(media_type::kOciEmpty), "{}"),
      .layers = {push_text(target, "application/octet-stream", a), push_text(target, "application/octet-stream", b)}};
  return push_text(target, std::string(media_type::kOciManifest), m.serialize());
}

}  // namespace

TEST_CASE("a layout stores, tags, resolves and verifies content") {
  ckms::testkit::TempDir dir("ckms-test-");
  Layout layout(dir / "store", Layout::Mode::create_if_missing);
  CHECK(fs::exists(dir / "store" / "oci-layout"));
  const auto manifest = push_artifact(layout, "alpha", "beta");
  layout.tag(manifest, "v1");
  CHECK(layout.resolve("v1").digest == manifest.digest);
  CHECK(layout.resolve(manifest.digest.str()).media_type == media_type::kOciManifest);
  CHECK(layout.tags() == std::vector<std::string>{"v1"});
  CHECK(layout.verify().empty());

  SECTION("re-tagging moves the tag") {
    const auto other = push_artifact(layout, "gamma", "delta");
    layout.tag(other, "v1");
    CHECK(layout.resolve("v1").digest == other.digest);
    CHECK(layout.entries().size() == 1);
  }
  SECTION("an unknown tag is not_found naming the tag") {
    try {
      layout.resolve("nope");
      FAIL("resolved a missing tag");
    } catch (const ckms::Error& e) {
      CHECK(e.kind() == ckms::ErrorKind::not_found);
      CHECK_THAT(e.what(), Catch::Contains("nope"));
    }
  }
  SECTION("gc removes only unreachable blobs") {
    push_text(layout, "application/octet-stream", "orphan");
    CHECK(layout.gc() == 1);
    CHECK(layout.verify().empty());
  }
  SECTION("a corrupted blob is found by verify and refused by fetch") {
    const auto blob = Descriptor::for_content("application/octet-stream", "alpha");
    const auto path = layout.blob_path(blob.digest);
    fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
    ckms::testkit::write_text(path, "alphx");
    CHECK(layout.verify().size() == 1);
    auto reader = layout.fetch(blob);
    CHECK_THROWS_AS(read_all(*reader, 100, "blob"), ckms::Error);
  }
}

TEST_CASE("a push whose bytes differ from the descriptor leaves nothing behind") {
  ckms::testkit::TempDir dir("ckms-test-");
  Layout layout(dir / "store", Layout::Mode::create_if_missing);
  auto claimed = Descriptor::for_content("application/octet-stream", "the real content");
  ckms::StringReader wrong("the fake content");
  CHECK_THROWS_AS(layout.push(claimed, wrong), ckms::Error);
  CHECK_FALSE(fs::exists(layout.blob_path(claimed.digest)));
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir / "store" / "blobs" / "sha256")) ++files;
  CHECK(files == 0);
}

TEST_CASE("copy between layouts preserves digests and skips what is present") {
  ckms::testkit::TempDir dir("ckms-test-");
  Layout source(dir / "a", Layout::Mode::create_if_missing);
  Layout destination(dir / "b", Layout::Mode::create_if_missing);
  const auto manifest = push_artifact(source, "one", "two");
  ImageIndex index;
  Descriptor entry = manifest;
  entry.platform = Platform{.architecture = "amd64", .os_version = "6.1.0-1"};
  index.manifests.push_back(entry);
  const auto index_descriptor = push_text(source, std::string(media_type::kOciIndex), index.serialize());
  source.tag(index_descriptor, "1.0");

  auto first = copy(source, "1.0", destination, "1.0");
  CHECK(first.root.digest == index_descriptor.digest);
  CHECK(first.blobs_uploaded == 5);  // index, manifest, config, two layers
  CHECK(destination.resolve("1.0").digest == index_descriptor.digest);
  CHECK(destination.verify().empty());
  auto second = copy(source, "1.0", destination, "1.0");
  CHECK(second.blobs_uploaded == 0);
}

TEST_CASE("two processes tagging one layout at once lose no tag") {
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path store = dir / "store";
  Layout(store, Layout::Mode::create_if_missing);
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      int status = 0;
      try {
        Layout layout(store, Layout::Mode::open_existing);
        for (int i = 0; i < 20; ++i) {
          const auto m = push_artifact(layout, "p" + std::to_string(p), std::to_string(i));
          layout.tag(m, "p" + std::to_string(p) + "-" + std::to_string(i));
        }
      } catch (...) {
        status = 1;
      }
      ::_exit(status);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WEXITSTATUS(status) == 0);
  }
  Layout layout(store, Layout::Mode::open_existing);
  CHECK(layout.tags().size() == 40);
  CHECK(layout.verify().empty());
}
