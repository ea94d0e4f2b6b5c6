#pragma once
// A real registry for tests: Debian's docker-registry on 127.0.0.1 with its storage in a
// TempDir, in three setups (open over HTTP; htpasswd Basic auth over TLS with a certificate
// made here; token auth with a token server running in the test process that signs JWTs
// with a key made here). Also the small loopback HTTP server the token service is built on,
// which tests use to script replies (429, 503, pagination) that a real registry never gives.

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ckms/oci/registry.hpp"
#include "testkit.hpp"

namespace ckms::testkit {

struct HttpExchange {
  std::string method;
  std::string target;                          // path and query as sent
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct HttpReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// HTTP/1.1 on 127.0.0.1, one request per connection (it answers with Connection: close),
// handled one at a time on a thread of the test process.
class LoopbackHttpServer {
 public:
  using Handler = std::function<HttpReply(const HttpExchange&)>;
  explicit LoopbackHttpServer(Handler handler);
  ~LoopbackHttpServer();
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  int port() const { return port_; }
  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void serve();
  void handle(int connection);

  Handler handler_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

enum class RegistrySetup { open_http, basic_tls, token };

class RegistryFixture {
 public:
  explicit RegistryFixture(RegistrySetup setup);
  ~RegistryFixture();
  RegistryFixture(const RegistryFixture&) = delete;
  RegistryFixture& operator=(const RegistryFixture&) = delete;

  RegistrySetup setup() const { return setup_; }
  // host:port
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  oci::RegistryReference reference(const std::string& repository, std::optional<std::string> tag = std::nullopt) const;
  // plain_http / ca_cert / credentials as the setup needs, fast retries, no credential files.
  oci::RegistryOptions options() const;
  const oci::Credentials& credentials() const { return credentials_; }
  std::optional<std::filesystem::path> ca_cert() const { return ca_cert_; }
  const std::filesystem::path& storage() const { return storage_; }
  std::string log() const;

  // Token setup: the token service grants nothing on this repository from now on.
  void deny(const std::string& repository);
  // Token setup: every scope the token service was asked for, in order.
  std::vector<std::string> requested_scopes() const;
  // Token setup: the scopes of each token request, one list per request, in order.
  std::vector<std::vector<std::string>> token_requests() const;
  // Token setup: from now on a token request naming two repositories (a cross-repository
  // mount's) is granted nothing, as a token service that allows no mounts answers.
  void refuse_cross_repository_tokens();
  // The registry's access log lines (Apache combined format) whose request line starts
  // with `method_and_path` ("POST /v2/prod/x/blobs/uploads/?mount=").
  std::vector<std::string> requests(const std::string& method_and_path) const;

 private:
  HttpReply issue_token(const HttpExchange& request);
  std::string sign_jwt(const std::string& payload) const;

  RegistrySetup setup_;
  TempDir dir_{"ckms-registry"};
  std::filesystem::path storage_;
  int port_ = 0;
  int pid_ = -1;
  oci::Credentials credentials_{"ckms", "s3cret-pa55", ""};
  std::optional<std::filesystem::path> ca_cert_;
  std::filesystem::path signing_key_;
  std::string signing_cert_der_b64_;
  mutable std::mutex mutex_;
  std::set<std::string> denied_;
  std::vector<std::string> scopes_;
  std::vector<std::vector<std::string>> token_requests_;
  bool refuse_cross_repository_ = false;
  std::unique_ptr<LoopbackHttpServer> token_server_;
};

}  // namespace ckms::testkit
