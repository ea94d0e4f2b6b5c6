#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "ckms/oci/http.hpp"
#include "http_curl.hpp"

namespace ckms::oci {

void HttpHeaders::add(std::string_view name, std::string_view value) {
  std::string key(name);
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  values_.emplace(std::move(key), std::string(value));
}

std::optional<std::string> HttpHeaders::get(std::string_view name) const {
  const auto it = values_.find(std::string(name));
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> HttpHeaders::all(std::string_view name) const {
  std::vector<std::string> out;
  const auto [first, last] = values_.equal_range(std::string(name));
  for (auto it = first; it != last; ++it) out.push_back(it->second);
  return out;
}

namespace curl {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool retryable(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_SEND_FAIL_REWIND:  // a kept-alive connection died under a body already read
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR: return true;
    default: return false;
  }
}

size_t HeaderSink::on_header(char* data, size_t size, size_t count, void* user) {
  auto* self = static_cast<HeaderSink*>(user);
  const size_t n = size * count;
  self->bytes += n;
  if (self->bytes > kMaxHeaderBytes) {
    self->overflow = true;
    return 0;
  }
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // A new header block (after 100 Continue, or a redirect we do not follow) replaces the last.
    self->headers.clear();
    self->complete = false;
    const auto space = line.find(' ');
    self->status = space == std::string_view::npos ? 0 : std::atol(std::string(line.substr(space + 1, 3)).c_str());
    return n;
  }
  if (line.empty()) {
    self->complete = self->status >= 200;
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  self->headers.add(line.substr(0, colon), value);
  return n;
}

size_t BodySource::on_read(char* buffer, size_t size, size_t count, void* user) {
  auto* self = static_cast<BodySource*>(user);
  if (self->reader) {
    try {
      const size_t n = self->reader->read(std::as_writable_bytes(std::span(buffer, size * count)));
      self->consumed += n;
      return n;
    } catch (...) {
      self->failure = std::current_exception();
      return CURL_READFUNC_ABORT;
    }
  }
  const size_t n = std::min(size * count, self->body.size() - self->offset);
  std::memcpy(buffer, self->body.data() + self->offset, n);
  self->offset += n;
  return n;
}

int BodySource::on_seek(void* user, curl_off_t offset, int origin) {
  auto* self = static_cast<BodySource*>(user);
  if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
  if (self->reader) return self->consumed == 0 && offset == 0 ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_CANTSEEK;
  if (static_cast<std::uint64_t>(offset) > self->body.size()) return CURL_SEEKFUNC_FAIL;
  self->offset = static_cast<std::size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

void configure(CURL* easy, const HttpOptions& options, const HttpRequest& request, HeaderSink& header_sink,
               BodySource& body_source, curl_slist*& header_list) {
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.stall_timeout.count()));
  // Redirects are followed one layer up, where the Authorization header can be dropped
  // when the target is another host.
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  if (options.ca_cert) curl_easy_setopt(easy, CURLOPT_CAINFO, options.ca_cert->c_str());
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HeaderSink::on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &header_sink);
  curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, static_cast<long>(options.receive_buffer));
  curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, static_cast<long>(options.send_buffer));

  header_list = nullptr;
  for (const auto& header : request.headers) header_list = curl_slist_append(header_list, header.c_str());
  // Waiting for 100 Continue only adds a round trip: in-memory bodies are cheap to send, and
  // a streamed upload only starts once a POST has settled auth for its session.
  header_list = curl_slist_append(header_list, "Expect:");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, header_list);

  if (!body_source.reader) {
    body_source.body = request.body;
    body_source.offset = 0;
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else if (body_source.reader || request.has_body || request.method == "PUT" || request.method == "PATCH") {
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, &BodySource::on_read);
    curl_easy_setopt(easy, CURLOPT_READDATA, &body_source);
    curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &BodySource::on_seek);
    curl_easy_setopt(easy, CURLOPT_SEEKDATA, &body_source);
    const std::optional<std::uint64_t> length =
        body_source.reader ? body_source.reader_length : std::optional<std::uint64_t>(request.body.size());
    // -1 leaves the size open: libcurl then sends HTTP/1.1 chunked transfer encoding.
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, length ? static_cast<curl_off_t>(*length) : curl_off_t{-1});
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
  } else {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
}

std::string describe_failure(CURLcode code, const char* error_buffer, const HttpRequest& request) {
  const std::string detail = error_buffer && *error_buffer ? error_buffer : curl_easy_strerror(code);
  return fmt::format("{} {}: {}", request.method, request.url, detail);
}

}  // namespace curl

struct HttpClient::Handle {
  CURL* easy = nullptr;
  ~Handle() {
    if (easy) curl_easy_cleanup(easy);
  }
};

struct HttpClient::Pool {
  std::mutex mutex;
  std::vector<std::unique_ptr<Handle>> idle;
};

// An easy handle borrowed for one exchange. Each handle keeps its own kept-alive connections
// (libcurl 7.88 cannot share a connection cache between threads safely), so the pool grows
// to the number of threads that use the client at once and no further.
class HttpClient::Lease {
 public:
  explicit Lease(Pool& pool) : pool_(pool) {
    {
      std::lock_guard lock(pool_.mutex);
      if (!pool_.idle.empty()) {
        handle_ = std::move(pool_.idle.back());
        pool_.idle.pop_back();
      }
    }
    if (!handle_) {
      handle_ = std::make_unique<Handle>();
      handle_->easy = curl_easy_init();
      if (!handle_->easy) fail(ErrorKind::internal, "cannot initialise libcurl");
    }
    // reset() keeps the connection cache, so consecutive requests reuse one connection.
    curl_easy_reset(handle_->easy);
  }
  ~Lease() {
    std::lock_guard lock(pool_.mutex);
    pool_.idle.push_back(std::move(handle_));
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  CURL* easy() const { return handle_->easy; }

 private:
  Pool& pool_;
  std::unique_ptr<Handle> handle_;
};

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)), pool_(std::make_unique<Pool>()) {
  curl::global_init();
}

HttpClient::~HttpClient() = default;

namespace {

struct BufferSink {
  std::string* body;
  std::size_t limit;
  bool overflow = false;
  static size_t on_write(char* data, size_t size, size_t count, void* user) {
    auto* self = static_cast<BufferSink*>(user);
    const size_t n = size * count;
    if (self->body->size() + n > self->limit) {
      self->overflow = true;
      return 0;
    }
    self->body->append(data, n);
    return n;
  }
};

HttpResponse perform(CURL* easy, const HttpOptions& options, const HttpRequest& request, curl::BodySource& body_source,
                     std::size_t body_limit) {
  HttpResponse response;
  curl::HeaderSink header_sink;
  curl_slist* header_list = nullptr;
  curl::configure(easy, options, request, header_sink, body_source, header_list);
  BufferSink sink{&response.body, body_limit};
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &BufferSink::on_write);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &sink);
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  const CURLcode code = curl_easy_perform(easy);
  curl_slist_free_all(header_list);
  body_source.rethrow_failure();
  if (header_sink.overflow) {
    throw HttpTransportError(
        fmt::format("{} {}: reply headers exceed {} bytes", request.method, request.url, kMaxHeaderBytes), false);
  }
  if (sink.overflow) {
    throw HttpReplyTooLarge(fmt::format("{} {}: reply body larger than the {} bytes allowed, not read further",
                                        request.method, request.url, body_limit));
  }
  if (code != CURLE_OK) {
    throw HttpTransportError(curl::describe_failure(code, error_buffer, request), curl::retryable(code));
  }
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
  response.headers = std::move(header_sink.headers);
  response.url = request.url;
  return response;
}

}  // namespace

HttpResponse HttpClient::exchange(const HttpRequest& request, std::size_t body_limit) {
  const Lease lease(*pool_);
  curl::BodySource body_source;
  return perform(lease.easy(), options_, request, body_source, body_limit);
}

HttpResponse HttpClient::upload(const HttpRequest& request, Reader& body, std::optional<std::uint64_t> length,
                                std::size_t body_limit) {
  const Lease lease(*pool_);
  curl::BodySource body_source;
  body_source.reader = &body;
  body_source.reader_length = length;
  return perform(lease.easy(), options_, request, body_source, body_limit);
}

std::string resolve_url(std::string_view base, std::string_view reference) {
  CURLU* url = curl_url();
  std::string base_copy(base), ref_copy(reference);
  std::string out;
  if (curl_url_set(url, CURLUPART_URL, base_copy.c_str(), 0) == CURLUE_OK &&
      curl_url_set(url, CURLUPART_URL, ref_copy.c_str(), 0) == CURLUE_OK) {
    char* full = nullptr;
    if (curl_url_get(url, CURLUPART_URL, &full, 0) == CURLUE_OK) out = full;
    curl_free(full);
  }
  curl_url_cleanup(url);
  if (out.empty()) fail(ErrorKind::registry, "cannot resolve URL '{}' against {}", reference, base);
  return out;
}

std::string url_authority(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  const auto at = rest.rfind('@');
  if (at != std::string_view::npos) rest = rest.substr(at + 1);
  std::string out(rest);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string url_escape(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

bool is_loopback_host(std::string_view authority) {
  std::string_view host = authority;
  if (host.starts_with("[")) {
    host = host.substr(1, host.find(']') - 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace ckms::oci
