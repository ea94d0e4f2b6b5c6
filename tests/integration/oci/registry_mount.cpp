// Cross-repository mounts within one real docker-registry, open and behind the tests' token
// service: a copy from one repository to another moves no blob bytes (the registry's access
// log shows the mounts and no upload), a refused or declined mount falls back to an upload,
// and the copy has the source's digests and is what skopeo reads.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "ckms/oci/copy.hpp"
#include "ckms/oci/registry.hpp"
#include "registry_fixture.hpp"
#include "registry_test_util.hpp"

using namespace ckms;
using namespace ckms::oci;
using testkit::RegistryFixture;
using testkit::RegistrySetup;
namespace fs = std::filesystem;

namespace {

struct Image {
  Descriptor manifest;
  std::vector<Descriptor> blobs;  // the layers and the config
};

// An image skopeo can read: two layers (one above the buffered-upload limit) and a config.
Image push_image(Target& target, std::string_view tag) {
  std::vector<Descriptor> layers;
  nlohmann::json diff_ids = nlohmann::json::array();
  for (const std::size_t size : {std::size_t{3000}, std::size_t{(1 << 20) + 4096}}) {
    const std::string bytes = test::random_bytes(size, static_cast<unsigned>(size));
    layers.push_back(test::push_blob(target, media_type::kOciLayerTar, bytes));
    diff_ids.push_back(layers.back().digest.str());
  }
  const nlohmann::json config = {
      {"architecture", "amd64"}, {"os", "linux"}, {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  const Descriptor config_descriptor = test::push_blob(target, media_type::kOciConfig, config.dump());
  const ImageManifest manifest{
      std::string(media_type::kOciManifest), std::nullopt, config_descriptor, layers, std::nullopt, {}};
  const std::string bytes = manifest.serialize();
  Image image{Descriptor::for_content(manifest.media_type, bytes), layers};
  image.blobs.push_back(config_descriptor);
  push_bytes(target, image.manifest, bytes);
  target.tag(image.manifest, tag);
  return image;
}

std::vector<std::string> skopeo_credentials(const RegistryFixture& registry) {
  if (registry.setup() == RegistrySetup::open_http) return {};
  return {"--creds", registry.credentials().username + ":" + registry.credentials().password};
}

// skopeo reads the copy: inspect names the source's digest, and a copy out of the registry
// into a layout (which verifies every blob) has it too.
void check_skopeo_reads(const RegistryFixture& registry, const std::string& repository, const Digest& digest) {
  if (!testkit::have_program("skopeo")) {
    WARN("skopeo is not installed: interop not checked");
    return;
  }
  const std::string source = "docker://" + registry.host() + "/" + repository + ":1";
  std::vector<std::string> inspect{"skopeo", "inspect", "--tls-verify=false"};
  for (const auto& arg : skopeo_credentials(registry)) inspect.push_back(arg);
  inspect.push_back(source);
  const auto inspected = testkit::run(inspect);
  INFO(inspected.err);
  REQUIRE(inspected.exit_code == 0);
  CHECK(nlohmann::json::parse(inspected.out)["Digest"] == digest.str());

  // dir: keeps the blobs as they are (an oci: layout would have skopeo compress them).
  testkit::TempDir dir("ckms-test-");
  std::vector<std::string> copy{"skopeo", "copy", "--src-tls-verify=false"};
  for (const auto& arg : skopeo_credentials(registry)) copy.push_back(arg == "--creds" ? "--src-creds" : arg);
  copy.push_back(source);
  copy.push_back("dir:" + (dir / "copy").string());
  const auto copied = testkit::run(copy);
  INFO(copied.err);
  REQUIRE(copied.exit_code == 0);
  CHECK(digest_of(testkit::read_text(dir / "copy" / "manifest.json")) == digest);
}

bool contains(const std::vector<std::string>& scopes, const std::string& scope) {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

}  // namespace

TEST_CASE("a copy within one registry mounts every blob and uploads only the manifest") {
  const RegistrySetup setup = GENERATE(RegistrySetup::open_http, RegistrySetup::token);
  RegistryFixture registry(setup);
  const Image image = [&] {
    RegistryRepository staging(registry.reference("staging/x"), registry.options());
    return push_image(staging, "1");
  }();
  // Fresh clients, as a `ckms copy` process has: no token cached, nothing seen yet.
  const std::size_t setup_token_requests = registry.token_requests().size();
  RegistryRepository source(registry.reference("staging/x"), registry.options());
  RegistryRepository destination(registry.reference("prod/x"), registry.options());
  const CopyResult result = copy(source, "1", destination, "1");

  CHECK(result.blobs_mounted == image.blobs.size());
  CHECK(result.blobs_uploaded == 1);  // the manifest
  CHECK(result.bytes_uploaded == static_cast<std::uint64_t>(image.manifest.size));
  CHECK(result.blobs_present == 0);
  CHECK(destination.resolve("1").digest == image.manifest.digest);
  for (const auto& blob : image.blobs) CHECK(destination.exists(blob));

  // Every blob went by one mount, answered 201 at once (the right token went with it), and
  // no blob content reached prod/x.
  const auto mounts = registry.requests("POST /v2/prod/x/blobs/uploads/?mount=");
  INFO(registry.log());
  CHECK(mounts.size() == image.blobs.size());
  for (const auto& line : mounts) {
    CHECK(line.find("from=staging%2Fx") != std::string::npos);
    CHECK(line.find("\" 201 ") != std::string::npos);
  }
  CHECK(registry.requests("PATCH /v2/prod/x/").empty());
  CHECK(registry.requests("PUT /v2/prod/x/blobs/").empty());
  CHECK(registry.requests("POST /v2/prod/x/blobs/uploads/ ").empty());

  if (setup == RegistrySetup::token) {
    // One token request with both scopes; the copy never asked for push on the source.
    auto requests = registry.token_requests();
    requests.erase(requests.begin(), requests.begin() + static_cast<std::ptrdiff_t>(setup_token_requests));
    CHECK(std::count_if(requests.begin(), requests.end(), [](const auto& scopes) {
            return scopes.size() == 2 && contains(scopes, "repository:prod/x:pull,push") &&
                   contains(scopes, "repository:staging/x:pull");
          }) == 1);
    for (const auto& scopes : requests) CHECK_FALSE(contains(scopes, "repository:staging/x:pull,push"));
  }
  check_skopeo_reads(registry, "prod/x", image.manifest.digest);
}

TEST_CASE("a mount the token service refuses falls back to an upload") {
  RegistryFixture registry(RegistrySetup::token);
  const Image image = [&] {
    RegistryRepository staging(registry.reference("staging/x"), registry.options());
    return push_image(staging, "1");
  }();
  registry.refuse_cross_repository_tokens();
  RegistryRepository source(registry.reference("staging/x"), registry.options());
  RegistryRepository destination(registry.reference("prod/x"), registry.options());
  const CopyResult result = copy(source, "1", destination, "1", CopyOptions{.concurrency = 1});

  CHECK(result.blobs_mounted == 0);
  CHECK(result.blobs_uploaded == image.blobs.size() + 1);
  CHECK(destination.resolve("1").digest == image.manifest.digest);
  INFO(registry.log());
  // The first refusal is remembered: the other blobs are not offered for a mount again.
  const auto mounts = registry.requests("POST /v2/prod/x/blobs/uploads/?mount=");
  REQUIRE_FALSE(mounts.empty());
  CHECK(mounts.size() == 1);
  for (const auto& line : mounts) CHECK(line.find("\" 401 ") != std::string::npos);
  CHECK(registry.requests("PUT /v2/prod/x/blobs/").size() == image.blobs.size());
  check_skopeo_reads(registry, "prod/x", image.manifest.digest);
}

TEST_CASE("a declined mount's upload session is the one the blob goes up in") {
  RegistryFixture registry(RegistrySetup::open_http);
  RegistryRepository staging(registry.reference("staging/x"), registry.options());
  const std::string bytes = test::random_bytes(5000, 9);
  const Descriptor blob = test::push_blob(staging, media_type::kOciLayerTar, bytes);
  // staging/x stops holding the blob behind this process's back (its link goes), so the
  // mount this process tries from there is declined with a plain upload session (202).
  const fs::path link =
      registry.storage() / "docker/registry/v2/repositories/staging/x/_layers/sha256" / blob.digest.hex() / "link";
  REQUIRE(fs::remove(link));

  RegistryRepository destination(registry.reference("prod/x"), registry.options());
  StringReader content{bytes};
  CHECK(destination.push(blob, content) == Stored::uploaded);
  CHECK(destination.exists(blob));

  INFO(registry.log());
  const auto mounts = registry.requests("POST /v2/prod/x/blobs/uploads/?mount=");
  REQUIRE(mounts.size() == 1);
  CHECK(mounts[0].find("\" 202 ") != std::string::npos);
  CHECK(registry.requests("POST /v2/prod/x/blobs/uploads/ ").empty());  // no second session
  CHECK(registry.requests("PUT /v2/prod/x/blobs/uploads/").size() == 1);

  SECTION("a blob the destination holds already closes the session instead") {
    staging.note_holds(blob);  // stale again
    StringReader unread{"never read"};
    CHECK(destination.push(blob, unread) == Stored::present);
    CHECK(registry.requests("POST /v2/prod/x/blobs/uploads/?mount=").size() == 2);
    CHECK(registry.requests("DELETE /v2/prod/x/blobs/uploads/").size() == 1);
    CHECK(registry.requests("PUT /v2/prod/x/blobs/uploads/").size() == 1);
  }
}
