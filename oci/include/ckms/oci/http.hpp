#pragma once
// HTTP transport over libcurl for the registry client. Three shapes of exchange: a
// buffered one for small bodies and replies (manifests, tokens, errors), bounded in size; a
// pull-style stream for blob downloads; and an upload whose body is pulled from a Reader as
// the connection takes it. Blob buffers are bounded, so memory stays flat for any blob size.
// Retries, auth and redirects live one layer up (registry_client): this layer only moves
// bytes and reports what happened. An HttpClient may be used from several threads at once:
// each exchange borrows an easy handle (and its kept-alive connections) from a pool.

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

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

namespace ckms::oci {

struct HttpOptions {
  // Replaces the system CA bundle when set (a private registry's own CA).
  std::optional<std::filesystem::path> ca_cert;
  std::string user_agent = "ckms";
  std::chrono::milliseconds connect_timeout{30'000};
  // A transfer slower than 1 byte/s for this long counts as a dropped connection.
  std::chrono::seconds stall_timeout{60};
  // Bytes a stream holds before it pauses the transfer and waits for its reader.
  std::size_t stream_buffer = 1 << 20;
  // libcurl's receive and send buffers: larger ones mean fewer callbacks and system calls
  // per blob (libcurl caps the send buffer at 2 MiB).
  std::size_t receive_buffer = 256 << 10;
  std::size_t send_buffer = 1 << 20;
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
  // A body held in memory (small blobs, manifests), so the request can be replayed after a
  // 401 or a retryable failure. Large blobs go through HttpClient::upload instead.
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

// A reply body larger than the caller allowed. Not a transport failure: the server sent
// what it meant to, and asking again would only bring the same bytes, so it is refused.
class HttpReplyTooLarge : public Error {
 public:
  explicit HttpReplyTooLarge(const std::string& message) : Error(ErrorKind::refused, message) {}
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

  // One exchange whose body (request.body is ignored) is read from `body` while it is sent,
  // with Content-Length `length` when known and chunked transfer encoding otherwise. The
  // body cannot be replayed, so there are no retries; libcurl may only start over on a fresh
  // connection while nothing has been read from `body` yet. An exception thrown by
  // body.read() (an integrity error from a VerifyingReader, a failed source download) aborts
  // the transfer and is rethrown unchanged.
  HttpResponse upload(const HttpRequest& request, Reader& body, std::optional<std::uint64_t> length,
                      std::size_t body_limit);

  const HttpOptions& options() const { return options_; }

 private:
  struct Handle;
  class Lease;
  HttpOptions options_;
  struct Pool;
  std::unique_ptr<Pool> pool_;  // idle easy handles, reused so that connections stay alive
};

// `reference` resolved against `base` (Location and Link headers may be relative).
std::string resolve_url(std::string_view base, std::string_view reference);
// The host[:port] part of an absolute URL; empty when it has none.
std::string url_authority(std::string_view url);
std::string url_escape(std::string_view text);
bool is_loopback_host(std::string_view authority);

}  // namespace ckms::oci
