// A registry or a network that means harm to what ckms sends and prints: a TLS registry that
// redirects to plain http, --plain-http aimed at a host that is not loopback, tag lists and
// error bodies full of terminal escapes, and a tag listing that never ends.
// docs/security.md ("Registries and credentials") lists what each test proves.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/printable.hpp"
#include "ckms/oci/registry.hpp"
#include "faults_support.hpp"
#include "loopback_server.hpp"

using namespace ckms;
using namespace ckms::faults;
namespace fs = std::filesystem;

namespace {

const std::map<std::string, std::string> kNoAuthFile = {{"REGISTRY_AUTH_FILE", "/nonexistent/ckms-test-auth.json"}};

std::string reply(int status, const std::vector<std::pair<std::string, std::string>>& headers,
                  const std::string& body) {
  std::string out = fmt::format("HTTP/1.1 {} X\r\nConnection: close\r\n", status);
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  return out + fmt::format("Content-Length: {}\r\n\r\n", body.size()) + body;
}

// Reads up to the end of a request head; empty when the peer went away first.
template <typename Recv>
std::string read_head(Recv recv) {
  std::string head;
  char buffer[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    const int n = recv(buffer, static_cast<int>(sizeof buffer));
    if (n <= 0) return {};
    head.append(buffer, static_cast<std::size_t>(n));
  }
  return head;
}

bool has_authorization(const std::string& head) {
  std::string lower = head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("\r\nauthorization:") != std::string::npos;
}

// A registry over TLS (a certificate for 127.0.0.1 made here) that wants Basic auth and,
// once given it, redirects every manifest request to http:// on its own host and port. The
// same port also notices a client that comes back in plain http and records what it sent.
class DowngradingRegistry {
 public:
  explicit DowngradingRegistry(const fs::path& dir) {
    cert_ = dir / "tls.crt";
    key_ = dir / "tls.key";
    const auto made = testkit::run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key_.string(),
                                    "-out", cert_.string()});
    REQUIRE(made.exit_code == 0);
    ctx_ = SSL_CTX_new(TLS_server_method());
    REQUIRE(SSL_CTX_use_certificate_file(ctx_, cert_.c_str(), SSL_FILETYPE_PEM) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_, key_.c_str(), SSL_FILETYPE_PEM) == 1);
    server_ = std::make_unique<testkit::LoopbackServer>([this](int fd) { serve(fd); });
  }
  ~DowngradingRegistry() {
    server_.reset();
    SSL_CTX_free(ctx_);
  }
  DowngradingRegistry(const DowngradingRegistry&) = delete;
  DowngradingRegistry& operator=(const DowngradingRegistry&) = delete;

  std::string authority() const { return server_->authority(); }
  const fs::path& ca_cert() const { return cert_; }
  int tls_requests() const { return tls_requests_; }
  std::vector<std::string> plain_requests() const {
    std::lock_guard lock(mutex_);
    return plain_;
  }

 private:
  void serve(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return;
    char first = 0;
    if (::recv(fd, &first, 1, MSG_PEEK) != 1) return;
    if (first != 0x16) {  // not a TLS handshake record: plain http on the TLS port
      const std::string head = read_head([fd](char* b, int n) { return static_cast<int>(::recv(fd, b, n, 0)); });
      std::lock_guard lock(mutex_);
      plain_.push_back(head);
      return;
    }
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      const std::string head = read_head([ssl](char* b, int n) { return SSL_read(ssl, b, n); });
      if (!head.empty()) {
        ++tls_requests_;
        const std::string target =
            head.substr(head.find(' ') + 1, head.find(' ', head.find(' ') + 1) - head.find(' ') - 1);
        std::string out;
        if (!has_authorization(head)) {
          out = reply(401, {{"WWW-Authenticate", "Basic realm=\"hostile\""}}, "");
        } else if (target == "/v2/") {
          out = reply(200, {{"Content-Type", "application/json"}}, "{}");
        } else {
          out = reply(302, {{"Location", "http://" + authority() + target}}, "");
        }
        SSL_write(ssl, out.data(), static_cast<int>(out.size()));
      }
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  }

  fs::path cert_, key_;
  SSL_CTX* ctx_ = nullptr;
  std::atomic<int> tls_requests_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> plain_;
  std::unique_ptr<testkit::LoopbackServer> server_;  // last: stops before what it uses
};

// A plain-http registry whose answers are scripted per request target.
class ScriptedRegistry {
 public:
  using Script = std::function<std::string(const std::string& target)>;
  explicit ScriptedRegistry(Script script) : script_(std::move(script)) {}
  std::string authority() const { return server_.authority(); }
  int requests() const { return requests_; }

 private:
  void serve(int fd) {
    const std::string head = read_head([&](char* b, int n) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return -1;
      return static_cast<int>(::recv(fd, b, n, 0));
    });
    if (head.empty()) return;
    ++requests_;
    const std::string target = head.substr(head.find(' ') + 1, head.find(' ', head.find(' ') + 1) - head.find(' ') - 1);
    const std::string out = target == "/v2/" ? reply(200, {}, "{}") : script_(target);
    ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
  }

  Script script_;
  std::atomic<int> requests_{0};
  testkit::LoopbackServer server_{[this](int fd) { serve(fd); }};
};

// Bytes a terminal would act on: C0 controls but newline, DEL, and C1 controls (U+0080..U+009F).
bool has_raw_controls(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xA0) return true;
  }
  return false;
}

const std::string kHostileText =
    "evil\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\n\x9b"
    "6n\xc2\x9b"
    "31m\x7f";

}  // namespace

TEST_CASE("a TLS registry that redirects to plain http gets no credentials in clear", "[hostile][security]") {
  const testkit::TempDir dir("ckms-downgrade");
  DowngradingRegistry server(dir.path());
  oci::RegistryOptions options;
  options.ca_cert = server.ca_cert();
  options.credentials = oci::Credentials{"ckms", "s3cret-pa55", ""};
  options.initial_backoff = std::chrono::milliseconds(20);
  oci::RegistryRepository repo(via(server.authority(), "hostile/downgrade"), options);
  try {
    repo.resolve("v1");
    FAIL("a redirect from https to http was followed");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::refused);
    CHECK_THAT(e.what(), Catch::Contains("plain http") && Catch::Contains("hostile/downgrade"));
  }
  CHECK(server.tls_requests() >= 2);  // the challenge, then the authorized request that was redirected
  for (const auto& head : server.plain_requests()) {
    INFO(head);
    CHECK_FALSE(has_authorization(head));
  }
  CHECK(server.plain_requests().empty());
}

TEST_CASE("--plain-http to a host that is not loopback is refused unless --insecure-registry names it",
          "[hostile][security]") {
  // 0.0.0.0 is not a loopback name, yet Linux connects it to the local host: the real
  // registry on 127.0.0.1 answers there, so the opt-in can be shown to work end to end.
  const std::string port = registry().host().substr(registry().host().rfind(':') + 1);
  const std::string repository = "0.0.0.0:" + port + "/faults/insecure";

  oci::RegistryOptions options = fast_options();
  CHECK_THROWS_MATCHES(oci::RegistryRepository(via("0.0.0.0:" + port, "faults/insecure"), options), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::refused; }));
  options.insecure_registries = {"0.0.0.0:" + port};
  CHECK(oci::RegistryRepository(via("0.0.0.0:" + port, "faults/insecure"), options).tags().empty());

  const auto refused = testkit::run(
      {testkit::ckms_binary().string(), "login", "--plain-http", "0.0.0.0:" + port, "-u", "ckms", "--password-stdin"},
      {.env = kNoAuthFile, .input = "s3cret\n", .timeout_seconds = 60});
  INFO(refused.err);
  CHECK(refused.exit_code == 5);
  CHECK_THAT(refused.err, Catch::Contains("--insecure-registry 0.0.0.0:" + port));

  // Refused before a byte is sent: a scripted registry reached the same way sees nothing.
  ScriptedRegistry watcher([](const std::string&) { return reply(200, {}, R"({"tags":[]})"); });
  const std::string watched = "0.0.0.0:" + watcher.authority().substr(watcher.authority().rfind(':') + 1);
  const auto listed = testkit::run({testkit::ckms_binary().string(), "tags", "--plain-http", watched + "/x/y"},
                                   {.env = kNoAuthFile, .timeout_seconds = 60});
  CHECK(listed.exit_code == 5);
  CHECK(watcher.requests() == 0);

  // Host-scoped: naming the host alone (any port) or host:port opts in; another host does not.
  for (const std::string& named : {std::string("0.0.0.0"), "0.0.0.0:" + port}) {
    const auto ok = testkit::run({testkit::ckms_binary().string(), "tags", "--insecure-registry", named, repository},
                                 {.env = kNoAuthFile, .timeout_seconds = 60});
    INFO(ok.err);
    CHECK(ok.exit_code == 0);
  }
  const auto other = testkit::run(
      {testkit::ckms_binary().string(), "tags", "--plain-http", "--insecure-registry", "registry.example", repository},
      {.env = kNoAuthFile, .timeout_seconds = 60});
  CHECK(other.exit_code == 5);
}

TEST_CASE("terminal escapes from a registry never reach the terminal raw", "[hostile][security]") {
  ScriptedRegistry server([](const std::string& target) {
    if (target.find("/tags/list") != std::string::npos) {
      return reply(200, {{"Content-Type", "application/json"}},
                   nlohmann::json{{"name", "hostile/escapes"}, {"tags", {"v1", kHostileText}}}.dump(
                       -1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    const std::string body = std::string(R"({"errors":[{"code":"DENIED","message":")") + kHostileText + "\"}]}";
    return reply(403, {{"Content-Type", "application/json"}}, body);
  });
  const std::string repository = server.authority() + "/hostile/escapes";

  const auto tags = testkit::run({testkit::ckms_binary().string(), "tags", "--plain-http", repository},
                                 {.env = kNoAuthFile, .timeout_seconds = 60});
  INFO(tags.out << tags.err);
  CHECK(tags.exit_code == 0);
  CHECK_THAT(tags.out, Catch::Contains("v1\n") && Catch::Contains("evil\\x1b]0;pwned\\x07"));
  CHECK_FALSE(has_raw_controls(tags.out + tags.err));

  const auto inspected = testkit::run({testkit::ckms_binary().string(), "inspect", "--plain-http", repository + ":v1"},
                                      {.env = kNoAuthFile, .timeout_seconds = 60});
  INFO(inspected.err);
  CHECK(inspected.exit_code == 6);
  CHECK_THAT(inspected.err, Catch::Contains("DENIED") && Catch::Contains("\\x1b[2J"));
  CHECK_FALSE(has_raw_controls(inspected.out + inspected.err));

  // JSON stays JSON: the same tag comes back intact through a JSON parser.
  const auto json = testkit::run({testkit::ckms_binary().string(), "--json", "tags", "--plain-http", repository},
                                 {.env = kNoAuthFile, .timeout_seconds = 60});
  REQUIRE(json.exit_code == 0);
  CHECK_FALSE(has_raw_controls(json.out));
  const auto listed = nlohmann::json::parse(json.out).at("tags");
  CHECK(listed.size() == 2);
  CHECK(listed.at(1).get<std::string>().starts_with("evil\x1b]0;pwned\x07"));
}

TEST_CASE("printable escapes controls and broken UTF-8 and keeps other text", "[security]") {
  CHECK(oci::printable("plain text, ünïcødé ✓") == "plain text, ünïcødé ✓");
  CHECK(oci::printable("a\x1b[2Jb\nc\td\x7f") == "a\\x1b[2Jb\\x0ac\\x09d\\x7f");
  CHECK(oci::printable("\xc2\x9b"
                       "6n") == "\\xc2\\x9b6n");
  CHECK(oci::printable("\x9b\xff\xe2\x82") == "\\x9b\\xff\\xe2\\x82");
  CHECK(oci::printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a surrogate is not UTF-8
}

TEST_CASE("a tag listing that links fresh pages without end stops at the page limit", "[hostile]") {
  std::atomic<int> page{0};
  ScriptedRegistry server([&page](const std::string&) {
    const int n = ++page;
    // Ends after 200 pages so that a client without a limit returns instead of hanging.
    std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
    if (n < 200)
      headers.emplace_back("Link", fmt::format("</v2/hostile/pages/tags/list?n=1&last=t{}>; rel=\"next\"", n));
    return reply(200, headers, fmt::format(R"({{"name":"hostile/pages","tags":["t{}"]}})", n));
  });
  oci::RegistryOptions options;
  options.plain_http = true;
  options.auth_file = "/nonexistent/ckms-test-auth.json";
  options.max_list_pages = 20;
  oci::RegistryRepository repo(via(server.authority(), "hostile/pages"), options);
  try {
    repo.tags();
    FAIL("an endless tag listing was read to its end");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::registry);
    CHECK_THAT(e.what(), Catch::Contains("hostile/pages") && Catch::Contains("20 pages"));
  }
  CHECK(server.requests() == 20);
}

TEST_CASE("a layer title with control characters is refused, not written or echoed raw", "[hostile][security]") {
  const std::string title = GENERATE(std::string("evil\nname"), std::string("a\x1b[2Jb"));
  const testkit::TempDir dir("ckms-title");
  oci::Layout layout(dir / "evil", oci::Layout::Mode::create_if_missing);
  const std::string content = "pwned";
  oci::Descriptor layer = oci::Descriptor::for_content("application/octet-stream", content);
  layer.annotations[std::string(oci::annotation::kTitle)] = title;
  oci::push_bytes(layout, layer, content);
  const auto config = oci::Descriptor::for_content("application/vnd.oci.empty.v1+json", "{}");
  oci::push_bytes(layout, config, "{}");
  const std::string bytes = nlohmann::json{
      {"schemaVersion", 2},
      {"mediaType", oci::media_type::kOciManifest},
      {"config", {{"mediaType", config.media_type}, {"digest", config.digest.str()}, {"size", 2}}},
      {"layers",
       {{{"mediaType", layer.media_type},
         {"digest", layer.digest.str()},
         {"size", layer.size},
         {"annotations",
          layer.annotations}}}}}.dump();
  const auto descriptor = oci::Descriptor::for_content(std::string(oci::media_type::kOciManifest), bytes);
  oci::push_bytes(layout, descriptor, bytes);
  layout.tag(descriptor, "v1");

  const auto pulled = testkit::run(
      {testkit::ckms_binary().string(), "pull", "oci:" + (dir / "evil").string() + ":v1", "-o", (dir / "out").string()},
      {.timeout_seconds = 60});
  INFO(pulled.err);
  CHECK(pulled.exit_code == 5);
  CHECK_THAT(pulled.err, Catch::Contains("not a plain file name"));
  CHECK_FALSE(has_raw_controls(pulled.out + pulled.err));
  CHECK((!fs::exists(dir / "out") || fs::is_empty(dir / "out")));
}
