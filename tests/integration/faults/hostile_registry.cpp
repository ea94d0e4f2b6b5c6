// A registry that means harm, as a tiny server in the test: a 1 GiB manifest (with and
// without a Content-Length), endless redirects, indexes that claim to contain themselves or
// nest without end, and token realms elsewhere. Each is refused within bounded time and
// memory, with a message that says what was refused.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/copy.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/registry.hpp"
#include "faults_support.hpp"
#include "loopback_server.hpp"

using namespace ckms;
using namespace ckms::faults;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Request {
  std::string method;
  std::string target;
  std::string head;
};

// Raw HTTP on 127.0.0.1: the handler writes whatever it likes to the connection, so replies
// can lie about their length or never end. A thread per connection.
class RawServer {
 public:
  using Handler = std::function<void(int fd, const Request&)>;
  explicit RawServer(Handler handler) : handler_(std::move(handler)) {}
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;
  std::string authority() const { return server_.authority(); }
  int requests() const { return requests_; }
  std::uint64_t bytes_sent() const { return sent_; }

  // Writes all of `data`; false once the client is gone or the server stops.
  bool send(int fd, std::string_view data) {
    std::size_t done = 0;
    while (done < data.size() && !server_.stopping()) {
      pollfd pfd{fd, POLLOUT, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
      sent_ += static_cast<std::uint64_t>(n);
    }
    return done == data.size();
  }

 private:
  void serve(int fd) {
    std::string head;
    char buffer[8192];
    while (!server_.stopping() && head.find("\r\n\r\n") == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      head.append(buffer, static_cast<std::size_t>(n));
    }
    if (head.find("\r\n\r\n") == std::string::npos) return;
    ++requests_;
    Request request;
    const auto space = head.find(' ');
    request.method = head.substr(0, space);
    request.target = head.substr(space + 1, head.find(' ', space + 1) - space - 1);
    request.head = head;
    handler_(fd, request);
  }

  Handler handler_;
  std::atomic<int> requests_{0};
  std::atomic<std::uint64_t> sent_{0};
  testkit::LoopbackServer server_{[this](int fd) { serve(fd); }};
};

oci::RegistryOptions hostile_options() {
  oci::RegistryOptions options;
  options.plain_http = true;
  options.initial_backoff = std::chrono::milliseconds(20);
  options.max_backoff = std::chrono::milliseconds(100);
  options.stall_timeout = std::chrono::seconds(2);
  options.auth_file = "/nonexistent/ckms-test-auth.json";
  return options;
}

std::string reply(int status, const std::vector<std::pair<std::string, std::string>>& headers,
                  const std::string& body) {
  std::string out = fmt::format("HTTP/1.1 {} X\r\nConnection: close\r\n", status);
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  return out + fmt::format("Content-Length: {}\r\n\r\n", body.size()) + body;
}

// Answers /v2/ and otherwise calls `manifest` for manifest requests.
RawServer::Handler registry_like(std::function<void(RawServer&, int, const Request&)> manifest, RawServer*& self) {
  return [manifest, &self](int fd, const Request& request) {
    if (request.target == "/v2/" || request.target == "/v2") {
      self->send(fd, reply(200, {{"Content-Type", "application/json"}}, "{}"));
      return;
    }
    manifest(*self, fd, request);
  };
}

// Runs `action`, which must throw a ckms::Error; returns it and how long it took.
std::pair<Error, Clock::duration> refused(const std::function<void()>& action) {
  const auto start = Clock::now();
  try {
    action();
  } catch (const Error& e) {
    return {e, Clock::now() - start};
  }
  FAIL("the hostile reply was accepted");
  return {Error(ErrorKind::internal, ""), {}};
}

// Copies REPO:v1 into a fresh layout: the copy must be refused with `kind`, naming `needle`,
// within seconds, and leave the layout without tags or damage.
void require_copy_refused(oci::RegistryRepository& repo, ErrorKind kind, const std::string& needle) {
  testkit::TempDir dir("ckms-hostile");
  oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
  const auto [error, took] = refused([&] { oci::copy(repo, "v1", layout, "v1"); });
  INFO(error.what());
  CHECK(error.kind() == kind);
  CHECK_THAT(error.what(), Catch::Contains(needle));
  CHECK(took < std::chrono::seconds(10));
  CHECK(layout.tags().empty());
  CHECK(layout_problems(dir / "layout").empty());
}

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return 0;
}

// Sends a 1 GiB manifest body (zeros), stopping when the client goes away.
void endless_manifest(RawServer& server, int fd, const Request& request, bool with_length) {
  std::string head =
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: " + std::string(oci::media_type::kOciManifest) + "\r\n";
  // With a length it looks like a real registry's reply, digest header included, so the
  // client takes the HEAD at its word; without one, the client must read to learn the digest.
  if (with_length) {
    head += "Content-Length: 1073741824\r\nDocker-Content-Digest: " + ckms::digest_of("huge").str() + "\r\n";
  }
  head += "\r\n";
  if (!server.send(fd, head) || request.method == "HEAD") return;
  const std::string chunk(1 << 16, ' ');
  for (std::uint64_t sent = 0; sent < (std::uint64_t{1} << 30); sent += chunk.size()) {
    if (!server.send(fd, chunk)) return;
  }
}

}  // namespace

TEST_CASE("a 1 GiB manifest is refused after at most the manifest limit, with or without a length", "[hostile]") {
  const bool with_length = GENERATE(true, false);
  RawServer* self = nullptr;
  RawServer server(registry_like(
      [with_length](RawServer& s, int fd, const Request& r) { endless_manifest(s, fd, r, with_length); }, self));
  self = &server;
  oci::RegistryRepository repo(via(server.authority(), "hostile/huge"), hostile_options());
  const long rss_before = rss_kib();
  const auto [error, took] = refused([&] {
    const auto descriptor = repo.resolve("v1");
    oci::fetch_bytes(repo, descriptor);
  });
  INFO(error.what());
  // Streamed, the HEAD gives no digest and the GET's bounded buffer overflows; with a
  // length, the verified stream stops at the limit. Both are the registry's doing, not the
  // network's, so neither is retried and both are refusals.
  CHECK(error.kind() == ErrorKind::refused);
  CHECK_THAT(error.what(), Catch::Contains("hostile/huge") && Catch::Contains(std::to_string(oci::kMaxManifestBytes)));
  CHECK(took < std::chrono::seconds(10));
  // Bounded: the client stopped reading near the limit, and kept no more than that.
  CHECK(server.bytes_sent() < 64u << 20);
  CHECK(rss_kib() - rss_before < 64 << 10);

  // A node or a CI job sees the refusal as its exit code.
  const testkit::TempDir out("ckms-test-");
  const auto pulled =
      testkit::run({testkit::ckms_binary().string(), "pull", "--plain-http", server.authority() + "/hostile/huge:v1",
                    "-o", (out / "layout").string()},
                   {.env = {{"REGISTRY_AUTH_FILE", "/nonexistent/ckms-test-auth.json"}}, .timeout_seconds = 60});
  INFO(pulled.err);
  CHECK(pulled.exit_code == 5);
  CHECK_THAT(pulled.err, Catch::Contains("hostile/huge") && Catch::Contains(std::to_string(oci::kMaxManifestBytes)));
}

TEST_CASE("endless redirects stop at the redirect limit with a clear error", "[hostile]") {
  RawServer* self = nullptr;
  std::atomic<int> hop{0};
  RawServer server(registry_like(
      [&hop](RawServer& s, int fd, const Request&) {
        s.send(fd, reply(302, {{"Location", fmt::format("/v2/hostile/loop/manifests/hop{}", ++hop)}}, ""));
      },
      self));
  self = &server;
  oci::RegistryRepository repo(via(server.authority(), "hostile/loop"), hostile_options());
  const auto [error, took] = refused([&] { repo.resolve("v1"); });
  INFO(error.what());
  CHECK_THAT(error.what(), Catch::Contains("hostile/loop") && Catch::Contains("redirect"));
  CHECK(took < std::chrono::seconds(10));
  // The limit (5) per attempt, and attempts are bounded too.
  CHECK(server.requests() <= 1 + 4 * 6);
}

TEST_CASE("an index that claims to contain itself is refused as the lie it is", "[hostile]") {
  // Content cannot contain its own digest, so a registry can only fake a cycle by answering a
  // digest with other bytes: the index lists a child, and the child's digest is answered with
  // the index again.
  const std::string child_digest = ckms::digest_of("never served").str();
  const std::string index = fmt::format(
      R"({{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{}","size":{}}}]}})",
      oci::media_type::kOciIndex, oci::media_type::kOciIndex, child_digest, 200);
  RawServer* self = nullptr;
  RawServer server(registry_like(
      [&index](RawServer& s, int fd, const Request&) {
        s.send(fd, reply(200,
                         {{"Content-Type", std::string(oci::media_type::kOciIndex)},
                          {"Docker-Content-Digest", ckms::digest_of(index).str()}},
                         index));
      },
      self));
  self = &server;
  oci::RegistryRepository repo(via(server.authority(), "hostile/self"), hostile_options());
  require_copy_refused(repo, ErrorKind::integrity, child_digest);
  CHECK(server.requests() < 20);
}

TEST_CASE("indexes nested without end are refused at the depth limit", "[hostile]") {
  // A chain of real indexes, each listing the next: every digest is honest, only the depth is
  // hostile.
  std::map<std::string, std::string> by_digest;
  std::string below = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})";
  for (int level = 0; level < 40; ++level) {
    by_digest[ckms::digest_of(below).str()] = below;
    below = fmt::format(
        R"({{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{}","size":{}}}]}})",
        oci::media_type::kOciIndex, oci::media_type::kOciIndex, ckms::digest_of(below).str(), below.size());
  }
  const std::string top = below;
  by_digest[ckms::digest_of(top).str()] = top;
  RawServer* self = nullptr;
  RawServer server(registry_like(
      [&](RawServer& s, int fd, const Request& r) {
        const std::string name = r.target.substr(r.target.rfind('/') + 1);
        const std::string& body = name == "v1" ? top : by_digest.count(name) ? by_digest.at(name) : top;
        if (!by_digest.count(name) && name != "v1") {
          s.send(fd, reply(404, {}, ""));
          return;
        }
        std::string answer = reply(200,
                                   {{"Content-Type", std::string(oci::media_type::kOciIndex)},
                                    {"Docker-Content-Digest", ckms::digest_of(body).str()}},
                                   body);
        if (r.method == "HEAD") answer.resize(answer.size() - body.size());
        s.send(fd, answer);
      },
      self));
  self = &server;
  oci::RegistryRepository repo(via(server.authority(), "hostile/deep"), hostile_options());
  require_copy_refused(repo, ErrorKind::refused, "deeper");
}

TEST_CASE("a token realm on a host that is not loopback is refused over plain http before any request", "[hostile]") {
  RawServer* self = nullptr;
  RawServer server([&self](int fd, const Request&) {
    // 192.0.2.0/24 is TEST-NET-1: never routed, so a request there could only hang.
    self->send(
        fd,
        reply(401,
              {{"WWW-Authenticate",
                R"(Bearer realm="http://192.0.2.1/token",service="hostile",scope="repository:hostile/realm:pull")"}},
              ""));
  });
  self = &server;
  oci::RegistryOptions options = hostile_options();
  options.credentials = oci::Credentials{"ckms", "s3cret-pa55", ""};
  oci::RegistryRepository repo(via(server.authority(), "hostile/realm"), options);
  const auto [error, took] = refused([&] { repo.resolve("v1"); });
  INFO(error.what());
  CHECK(error.kind() == ErrorKind::refused);
  CHECK_THAT(error.what(), Catch::Contains("192.0.2.1") && Catch::Contains("credentials"));
  CHECK(took < std::chrono::seconds(5));
}

TEST_CASE("a token realm on another loopback port gets the credentials, the registry only the token", "[hostile]") {
  // The documented flow of a registry that delegates auth to a token service on another host
  // (Docker Hub's): Basic credentials go to the realm the registry names, over https or on
  // loopback only; the registry itself only ever sees the Bearer token.
  std::mutex mutex;
  std::vector<std::string> token_auth, registry_auth;
  auto authorization = [](const std::string& head) {
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto at = lower.find("\r\nauthorization:");
    if (at == std::string::npos) return std::string();
    auto begin = at + 16;
    while (head[begin] == ' ') ++begin;
    return head.substr(begin, head.find("\r\n", begin) - begin);
  };
  RawServer* token_self = nullptr;
  RawServer tokens([&](int fd, const Request& r) {
    std::lock_guard lock(mutex);
    token_auth.push_back(authorization(r.head));
    token_self->send(fd, reply(200, {{"Content-Type", "application/json"}}, R"({"token":"granted-token"})"));
  });
  token_self = &tokens;
  const std::string index =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})";
  RawServer* self = nullptr;
  RawServer server([&](int fd, const Request& r) {
    const std::string auth = authorization(r.head);
    {
      std::lock_guard lock(mutex);
      registry_auth.push_back(auth);
    }
    if (auth.find("granted-token") == std::string::npos) {
      self->send(fd, reply(401,
                           {{"WWW-Authenticate",
                             fmt::format(R"(Bearer realm="http://{}/token",service="hostile")", tokens.authority())}},
                           ""));
      return;
    }
    self->send(fd, reply(200,
                         {{"Content-Type", std::string(oci::media_type::kOciIndex)},
                          {"Docker-Content-Digest", ckms::digest_of(index).str()}},
                         r.method == "HEAD" ? "" : index));
  });
  self = &server;
  oci::RegistryOptions options = hostile_options();
  options.credentials = oci::Credentials{"ckms", "s3cret-pa55", ""};
  oci::RegistryRepository repo(via(server.authority(), "hostile/token"), options);
  CHECK(repo.resolve("v1").digest == ckms::digest_of(index));
  std::lock_guard lock(mutex);
  REQUIRE_FALSE(token_auth.empty());
  for (const auto& a : token_auth) CHECK(a.starts_with("Basic "));
  for (const auto& a : registry_auth) CHECK_FALSE(a.starts_with("Basic"));
}
