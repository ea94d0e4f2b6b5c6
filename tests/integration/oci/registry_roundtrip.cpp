// Push, resolve, fetch, tag, tags, referrers and mount against a real docker-registry in
// each of its three setups.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/registry.hpp"
#include "registry_fixture.hpp"
#include "registry_test_util.hpp"

using namespace ckms;
using namespace ckms::oci;
using testkit::RegistryFixture;
using testkit::RegistrySetup;

namespace {

const char* name_of(RegistrySetup setup) {
  switch (setup) {
    case RegistrySetup::open_http: return "open http";
    case RegistrySetup::basic_tls: return "basic auth over TLS";
    case RegistrySetup::token: return "token auth";
  }
  return "?";
}

}  // namespace

TEST_CASE("content round-trips through a registry in every auth setup") {
  const RegistrySetup setup = GENERATE(RegistrySetup::open_http, RegistrySetup::basic_tls, RegistrySetup::token);
  INFO(name_of(setup));
  RegistryFixture registry(setup);
  RegistryOptions options = registry.options();
  // A small limit so that both the buffered and the streamed upload run here (the streamed
  // one after a POST that settled auth, in each setup).
  options.buffered_upload_limit = 64 << 10;
  RegistryRepository repo(registry.reference("ckms/hello"), options);
  repo.ping();

  const auto small = test::push_image(repo, 1000, 1);
  const auto large = test::push_image(repo, 200 << 10, 2);  // streamed in one PATCH

  SECTION("resolve, exists and fetch return what was pushed") {
    repo.tag(small.manifest, "v1");
    const Descriptor resolved = repo.resolve("v1");
    CHECK(resolved.digest == small.manifest.digest);
    CHECK(resolved.media_type == media_type::kOciManifest);
    CHECK(resolved.size == small.manifest.size);
    CHECK(repo.resolve(small.manifest.digest.str()).digest == small.manifest.digest);
    CHECK(repo.exists(large.layer));
    CHECK(repo.exists(small.manifest));
    CHECK(fetch_bytes(repo, small.manifest) == small.manifest_bytes);
    auto reader = repo.fetch(large.layer);
    CHECK(read_all(*reader, 1 << 20, "layer") == large.layer_bytes);
    CHECK_FALSE(repo.exists(Descriptor::for_content(std::string(media_type::kOciLayerTar), "never pushed")));
    try {
      repo.resolve("missing");
      FAIL("resolved a tag that does not exist");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::not_found);
      CHECK_THAT(e.what(), Catch::Contains("ckms/hello") && Catch::Contains("missing"));
    }
  }

  SECTION("pushing a blob that is already there skips the upload") {
    std::uint64_t reported = 0;
    StringReader again(large.layer_bytes);
    repo.push(large.layer, again, [&](std::uint64_t n) { reported = n; });
    CHECK(reported == large.layer_bytes.size());
  }

  SECTION("tags list every tag") {
    for (const char* tag : {"a", "b", "c"}) repo.tag(small.manifest, tag);
    auto tags = repo.tags();
    std::sort(tags.begin(), tags.end());
    CHECK(tags == std::vector<std::string>{"a", "b", "c"});
  }

  SECTION("referrers are found through the tag schema fallback, filtered by artifact type") {
    const auto signature = test::push_image(repo, 10, 3, small.manifest, "application/vnd.ckms.test.signature");
    const auto sbom = test::push_image(repo, 10, 4, small.manifest, "application/vnd.ckms.test.sbom");
    const auto all = repo.referrers(small.manifest, std::nullopt);
    REQUIRE(all.size() == 2);
    const auto signatures = repo.referrers(small.manifest, "application/vnd.ckms.test.signature");
    REQUIRE(signatures.size() == 1);
    CHECK(signatures[0].digest == signature.manifest.digest);
    CHECK(signatures[0].artifact_type == "application/vnd.ckms.test.signature");
    CHECK(repo.referrers(large.manifest, std::nullopt).empty());
    (void)sbom;
  }

  SECTION("a blob mounts from another repository of the registry") {
    RegistryRepository other(registry.reference("ckms/other"), options);
    CHECK(other.mount(large.layer, "ckms/hello"));
    CHECK(other.exists(large.layer));
    CHECK_FALSE(other.mount(Descriptor::for_content(std::string(media_type::kOciLayerTar), "absent"), "ckms/hello"));
    if (setup == RegistrySetup::token) {
      const auto scopes = registry.requested_scopes();
      CHECK(std::find(scopes.begin(), scopes.end(), "repository:ckms/hello:pull") != scopes.end());
      CHECK(std::find(scopes.begin(), scopes.end(), "repository:ckms/other:pull,push") != scopes.end());
    }
  }

  SECTION("a deleted manifest is gone") {
    repo.delete_manifest(large.manifest);
    CHECK_FALSE(repo.exists(large.manifest));
  }
}

TEST_CASE("an empty repository has no tags and no referrers") {
  RegistryFixture registry(RegistrySetup::open_http);
  RegistryRepository repo(registry.reference("ckms/empty"), registry.options());
  CHECK(repo.tags().empty());
  const auto subject = Descriptor::for_content(std::string(media_type::kOciManifest), "{}");
  CHECK(repo.referrers(subject, std::nullopt).empty());
}

TEST_CASE("tags are listed across pages") {
  RegistryFixture registry(RegistrySetup::open_http);
  RegistryOptions options = registry.options();
  options.tags_page_size = 3;
  RegistryRepository repo(registry.reference("ckms/paged"), options);
  const auto image = test::push_image(repo, 10, 5);
  std::vector<std::string> expected;
  for (int i = 0; i < 8; ++i) {
    expected.push_back("t" + std::to_string(i));
    repo.tag(image.manifest, expected.back());
  }
  auto tags = repo.tags();
  std::sort(tags.begin(), tags.end());
  CHECK(tags == expected);
}
