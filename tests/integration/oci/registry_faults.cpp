// What goes wrong on the way: bad content, overloaded registries, dropped connections,
// redirects to storage on other hosts, paginated listings. Real docker-registry where it can
// show the behaviour, scripted loopback servers for replies it never gives.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/registry.hpp"
#include "cutting_proxy.hpp"
#include "registry_fixture.hpp"
#include "registry_test_util.hpp"

using namespace ckms;
using namespace ckms::oci;
using test::CuttingProxy;
using testkit::HttpExchange;
using testkit::HttpReply;
using testkit::LoopbackHttpServer;
using testkit::RegistryFixture;
using testkit::RegistrySetup;

namespace {

RegistryReference scripted(const LoopbackHttpServer& server, const std::string& repository) {
  RegistryReference ref;
  ref.registry = server.authority();
  ref.repository = repository;
  return ref;
}

RegistryOptions fast_plain() {
  RegistryOptions options;
  options.plain_http = true;
  options.initial_backoff = std::chrono::milliseconds(10);
  options.auth_file = "/nonexistent/ckms-test-auth.json";
  return options;
}

const std::string kManifest =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]})";

HttpReply manifest_reply() {
  return {
      200,
      {{"Content-Type", std::string(media_type::kOciManifest)}, {"Docker-Content-Digest", digest_of(kManifest).str()}},
      kManifest};
}

}  // namespace

TEST_CASE("a blob whose bytes do not match its digest is refused and nothing is stored") {
  RegistryFixture registry(RegistrySetup::open_http);
  const bool streamed = GENERATE(false, true);
  RegistryOptions options = registry.options();
  if (streamed) options.buffered_upload_limit = 1024;
  RegistryRepository repo(registry.reference("ckms/integrity"), options);
  const std::string claimed = test::random_bytes(4000, 10);
  const std::string actual = test::random_bytes(4000, 11);
  const Descriptor descriptor = Descriptor::for_content(std::string(media_type::kOciLayerTar), claimed);
  StringReader reader(actual);
  try {
    repo.push(descriptor, reader);
    FAIL("pushed content under the wrong digest");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::integrity);
  }
  CHECK_FALSE(repo.exists(descriptor));
  CHECK_FALSE(repo.exists(Descriptor::for_content(std::string(media_type::kOciLayerTar), actual)));
  const auto blobs = registry.storage() / "docker/registry/v2/blobs/sha256";
  CHECK_FALSE(std::filesystem::exists(blobs / descriptor.digest.hex().substr(0, 2) / descriptor.digest.hex()));
}

TEST_CASE("503 and 429 replies are retried, honouring Retry-After") {
  int failures = 0;
  std::string failure_status = "503";
  LoopbackHttpServer server([&](const HttpExchange&) -> HttpReply {
    if (failures > 0) {
      --failures;
      if (failure_status == "429") return {429, {{"Retry-After", "1"}}, ""};
      return {503, {}, ""};
    }
    return manifest_reply();
  });
  RegistryRepository repo(scripted(server, "ckms/flaky"), fast_plain());

  failures = 2;
  CHECK(repo.resolve("v1").digest == digest_of(kManifest));
  CHECK(server.requests() == 3);

  failures = 1;
  failure_status = "429";
  const auto start = std::chrono::steady_clock::now();
  CHECK(repo.resolve("v1").digest == digest_of(kManifest));
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(900));
}

TEST_CASE("when every attempt fails the error names the reference, the status and the registry's words") {
  LoopbackHttpServer server([](const HttpExchange&) -> HttpReply {
    return {503,
            {{"Content-Type", "application/json"}},
            R"({"errors":[{"code":"UNAVAILABLE","message":"maintenance until noon","detail":null}]})"};
  });
  RegistryOptions options = fast_plain();
  options.max_attempts = 3;
  RegistryRepository repo(scripted(server, "ckms/down"), options);
  try {
    repo.tags();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::registry);
    CHECK_THAT(e.what(), Catch::Contains("ckms/down") && Catch::Contains("503") &&
                             Catch::Contains("UNAVAILABLE: maintenance until noon"));
  }
  CHECK(server.requests() == 3);
}

TEST_CASE("tag pages are followed through Link headers") {
  LoopbackHttpServer server([](const HttpExchange& request) -> HttpReply {
    if (request.target == "/v2/ckms/paged/tags/list?n=2") {
      return {200,
              {{"Link", R"(</v2/ckms/paged/tags/list?last=b&n=2>; rel="next")"}},
              R"({"name":"ckms/paged","tags":["a","b"]})"};
    }
    if (request.target == "/v2/ckms/paged/tags/list?last=b&n=2") {
      return {200,
              {{"Link", R"(<http://)" + std::string("127.0.0.1") +
                            R"(:1/elsewhere>; rel="prev", </v2/ckms/paged/tags/list?last=d&n=2>; rel="next")"}},
              R"({"name":"ckms/paged","tags":["c","d"]})"};
    }
    return {200, {}, R"({"name":"ckms/paged","tags":["e"]})"};
  });
  RegistryOptions options = fast_plain();
  options.tags_page_size = 2;
  RegistryRepository repo(scripted(server, "ckms/paged"), options);
  CHECK(repo.tags() == std::vector<std::string>{"a", "b", "c", "d", "e"});
}

TEST_CASE("a redirect to another host does not carry the registry's credentials") {
  const std::string blob = test::random_bytes(5000, 12);
  std::optional<std::string> storage_saw_authorization;
  LoopbackHttpServer storage([&](const HttpExchange& request) -> HttpReply {
    const auto it = request.headers.find("authorization");
    storage_saw_authorization = it == request.headers.end() ? "" : it->second;
    return {200, {}, blob};
  });
  LoopbackHttpServer registry([&](const HttpExchange& request) -> HttpReply {
    if (!request.headers.contains("authorization")) return {401, {{"WWW-Authenticate", R"(Basic realm="r")"}}, ""};
    return {307, {{"Location", "http://" + storage.authority() + "/bucket/blob?sig=1"}}, ""};
  });
  RegistryOptions options = fast_plain();
  options.credentials = Credentials{"u", "p", ""};
  RegistryRepository repo(scripted(registry, "ckms/redirected"), options);
  const Descriptor descriptor = Descriptor::for_content(std::string(media_type::kOciLayerTar), blob);
  auto reader = repo.fetch(descriptor);
  CHECK(read_all(*reader, 1 << 20, "blob") == blob);
  REQUIRE(storage_saw_authorization);
  CHECK(storage_saw_authorization->empty());
}

TEST_CASE("a download cut off mid-blob resumes with a Range request") {
  RegistryFixture registry(RegistrySetup::open_http);
  RegistryRepository direct(registry.reference("ckms/resume"), registry.options());
  const std::string blob = test::random_bytes(3 << 20, 13);
  const Descriptor descriptor = test::push_blob(direct, media_type::kOciLayerTar, blob);

  const int port = std::stoi(registry.host().substr(registry.host().find(':') + 1));
  CuttingProxy proxy(port, CuttingProxy::Direction::replies, 1 << 20);
  RegistryReference through_proxy = registry.reference("ckms/resume");
  through_proxy.registry = proxy.authority();
  RegistryRepository repo(through_proxy, registry.options());
  auto reader = repo.fetch(descriptor);
  CHECK(read_all(*reader, 4 << 20, "blob") == blob);
  CHECK(proxy.cuts() == 1);
}
