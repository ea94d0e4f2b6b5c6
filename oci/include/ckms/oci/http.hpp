#pragma once
// HTTP transport over libcurl for the registry client. Two shapes of exchange: a buffered
// one for small replies (manifests, tokens, errors), bounded in size, and a pull-style
// stream for blobs whose buffer is bounded too, so memory stays flat for any blob size.
// Retries, auth and redirects live one layer up (registry_client): this layer only moves
// bytes and reports what happened.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/oci/error.hpp"
#include "ckms/oci/io.hpp"

namespace ckms::oci {

struct HttpOptions {
  // Replaces the system CA bundle when set (a private registry's own CA).
  std::optional<std::filesystem::path> ca_cert;
  std::string user_agent = "ckms";
  std::chrono::seconds connect_timeout{30};
  // A transfer slower than 1 byte/s for this long counts as a dropped connection.
  std::chrono::seconds stall_timeout{60};
  // Bytes a stream holds before it pauses the transfer and waits for its reader.
  std::size_t stream_buffer = 1 << 20;
};

// Response headers by lower-case name (a name may repeat, e.g. Link or WWW-Authenticate).
class HttpHeaders {
 public:
  void add(std::string_view name, std::string_view value);
  std::optional<std::string> get(std::string_view name) const;
  std::vector<std::string> all(std::string_view name) const;
  void clear() { values_.clear(); }

 private:
  std::multimap<std::string, std::string> values_;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Bodies are held in memory (at most one upload chunk), so a request can be replayed
  // after a 401 or a retryable failure.
  std::string body;
  bool has_body = false;
};

struct HttpResponse {
  long status = 0;
  HttpHeaders headers;
  std::string body;
  std::string url;  // the URL that answered
};

// A failure below HTTP (refused connection, reset, timeout, TLS). `retryable` is false when
// trying again cannot help (certificate rejected, malformed URL, reply over our limits).
class HttpTransportError : public Error {
 public:
  HttpTransportError(const std::string& message, bool retryable)
      : Error(ErrorKind::network, message), retryable_(retryable) {}
  bool retryable() const noexcept { return retryable_; }

 private:
  bool retryable_;
};

// Limits on what a server may send before we stop listening.
inline constexpr std::size_t kMaxHeaderBytes = 64 << 10;
inline constexpr std::size_t kMaxErrorBodyBytes = 64 << 10;

// A blob body being received. status() and headers() block until the final header block
// has arrived; read() blocks until bytes are there, returns 0 at the end and throws
// HttpTransportError when the connection drops.
class HttpStream : public Reader {
 public:
  virtual long status() = 0;
  virtual const HttpHeaders& headers() = 0;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One exchange, no retries. A body larger than `body_limit` is refused.
  HttpResponse exchange(const HttpRequest& request, std::size_t body_limit);
  std::unique_ptr<HttpStream> open(const HttpRequest& request);

  const HttpOptions& options() const { return options_; }

 private:
  struct Handle;
  HttpOptions options_;
  std::unique_ptr<Handle> handle_;  // one easy handle reused, so connections stay alive
};

// `reference` resolved against `base` (Location and Link headers may be relative).
std::string resolve_url(std::string_view base, std::string_view reference);
// The host[:port] part of an absolute URL; empty when it has none.
std::string url_authority(std::string_view url);
std::string url_escape(std::string_view text);
bool is_loopback_host(std::string_view authority);

}  // namespace ckms::oci
