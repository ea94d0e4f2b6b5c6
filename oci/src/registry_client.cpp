#include "registry_client.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <thread>

#include "ckms/oci/http_headers.hpp"

namespace ckms::oci {
namespace {

constexpr std::size_t kMaxErrorSummary = 512;
// A Retry-After longer than this is a registry asking us to go away, not to wait.
constexpr std::chrono::seconds kMaxRetryAfter{120};

HttpOptions http_options(const RegistryOptions& options) {
  HttpOptions out;
  out.ca_cert = options.ca_cert;
  out.user_agent = options.user_agent;
  out.stream_buffer = options.stream_buffer;
  out.stall_timeout = options.stall_timeout;
  out.connect_timeout = options.connect_timeout;
  return out;
}

// Counts what an upload took from its body, which decides whether it may be sent again.
class CountingReader final : public Reader {
 public:
  explicit CountingReader(Reader& inner) : inner_(inner) {}
  std::size_t read(std::span<std::byte> buffer) override {
    const std::size_t n = inner_.read(buffer);
    count_ += n;
    return n;
  }
  std::uint64_t count() const { return count_; }

 private:
  Reader& inner_;
  std::uint64_t count_ = 0;
};

void drop_authorization(HttpRequest& request) {
  std::erase_if(request.headers, [](const std::string& h) {
    return h.size() >= 14 && strncasecmp(h.c_str(), "Authorization:", 14) == 0;
  });
}

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// An entry names a host with or without its port; without one, every port of that host.
bool names_registry(std::string_view entry, std::string_view registry) {
  const std::string e = lower(entry), r = lower(registry);
  if (e == r) return true;
  const std::string host = r.starts_with("[") ? r.substr(0, r.find(']') + 1) : r.substr(0, r.find(':'));
  return e == host;
}

RegistryOptions with_scheme(RegistryOptions options, const RegistryReference& reference) {
  options.plain_http = uses_plain_http(options, reference.registry) ||
                       (reference.api_host() != reference.registry && uses_plain_http(options, reference.api_host()));
  return options;
}

bool is_plain_http_url(std::string_view url) { return lower(url.substr(0, 7)) == "http://"; }

}  // namespace

bool uses_plain_http(const RegistryOptions& options, std::string_view registry) {
  const bool named = std::any_of(options.insecure_registries.begin(), options.insecure_registries.end(),
                                 [&](const std::string& entry) { return names_registry(entry, registry); });
  if (named) return true;
  if (!options.plain_http) return false;
  if (!is_loopback_host(registry)) {
    fail(ErrorKind::refused,
         "{}: --plain-http is for loopback registries only; plain http to another host sends credentials "
         "and artifacts in clear: name it with --insecure-registry {} if that is meant",
         registry, registry);
  }
  return true;
}

bool is_retryable_status(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::string summarize_error_body(std::string_view body) {
  std::string out;
  try {
    const auto document = nlohmann::json::parse(body);
    for (const auto& error : document.at("errors")) {
      if (!out.empty()) out += "; ";
      out += error.value("code", "UNKNOWN");
      const std::string message = error.value("message", "");
      if (!message.empty()) out += ": " + message;
    }
  } catch (const nlohmann::json::exception&) {
    out = std::string(body);
    for (char& c : out) {
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
  }
  if (out.size() > kMaxErrorSummary) out = out.substr(0, kMaxErrorSummary) + "…";
  return out;
}

RegistryClient::RegistryClient(RegistryReference reference, RegistryOptions options)
    : reference_(std::move(reference)),
      options_(with_scheme(std::move(options), reference_)),
      http_(http_options(options_)),
      auth_(
          AuthPolicy{reference_.api_host(), options_.plain_http, reference_.repository_str()},
          [this]() -> std::optional<Credentials> {
            if (options_.credentials) return options_.credentials;
            return find_credentials(reference_.registry, options_.auth_file);
          },
          [this](const HttpRequest& request, std::size_t limit) { return send(request, std::nullopt, limit); }) {
  if (options_.max_attempts < 1) options_.max_attempts = 1;
}

std::string RegistryClient::base_url() const {
  return fmt::format("{}://{}/v2/", options_.plain_http ? "http" : "https", reference_.api_host());
}

std::string RegistryClient::url(std::string_view suffix) const {
  return base_url() + reference_.repository + "/" + std::string(suffix);
}

void RegistryClient::refuse_downgrade(std::string_view url) const {
  // A registry reached over TLS is never left for plain http, whatever a redirect or a Link
  // header says: the next request would carry credentials, or ask for content, in clear.
  if (!options_.plain_http && is_plain_http_url(url)) {
    fail(ErrorKind::refused, "{}: the registry sent us from https to plain http ({}); refused", describe(), url);
  }
}

std::optional<std::string> RegistryClient::authorization(const Scopes& scopes) {
  const std::lock_guard lock(auth_mutex_);
  return auth_.header(scopes);
}

bool RegistryClient::answer_challenge(const HttpResponse& response, const Scopes& scopes) {
  const std::lock_guard lock(auth_mutex_);
  return auth_.on_unauthorized(response, scopes);
}

void RegistryClient::backoff(int attempt, const HttpHeaders* headers) const {
  std::chrono::milliseconds delay = options_.initial_backoff * (1LL << std::min(attempt - 1, 20));
  delay = std::min(delay, options_.max_backoff);
  if (headers) {
    if (auto value = headers->get("retry-after")) {
      if (auto wait = parse_retry_after(*value, std::chrono::system_clock::now())) {
        delay = std::min<std::chrono::milliseconds>(*wait, kMaxRetryAfter);
      }
    }
  }
  std::this_thread::sleep_for(delay);
}

HttpResponse RegistryClient::send_once(HttpRequest& request, const std::optional<Scopes>& scopes,
                                       std::size_t body_limit) {
  const std::string registry_host = url_authority(base_url());
  bool answered_challenge = false;
  int redirects = 0;
  for (;;) {
    refuse_downgrade(request.url);
    HttpRequest attempt = request;
    // Tokens are only for the registry itself: a token endpoint or blob storage elsewhere
    // gets no Authorization header from us.
    if (url_authority(attempt.url) == registry_host && scopes &&
        !std::any_of(attempt.headers.begin(), attempt.headers.end(),
                     [](const std::string& h) { return strncasecmp(h.c_str(), "Authorization:", 14) == 0; })) {
      if (auto header = authorization(*scopes)) attempt.headers.push_back(*header);
    }
    HttpResponse response = http_.exchange(attempt, body_limit);
    if (response.status == 401 && !answered_challenge && url_authority(attempt.url) == registry_host && scopes) {
      answered_challenge = true;
      if (answer_challenge(response, *scopes)) continue;
    }
    if (is_redirect(response.status) && (request.method == "GET" || request.method == "HEAD")) {
      const auto location = response.headers.get("location");
      if (location && redirects < options_.max_redirects) {
        ++redirects;
        request.url = resolve_url(attempt.url, *location);
        if (url_authority(request.url) != registry_host) drop_authorization(request);
        continue;
      }
      if (location) {
        fail(ErrorKind::registry, "{}: {} {}: more than {} redirects", describe(), request.method, request.url,
             options_.max_redirects);
      }
    }
    return response;
  }
}

HttpResponse RegistryClient::send(HttpRequest request, const std::optional<Scopes>& scopes, std::size_t body_limit) {
  for (int attempt = 1;; ++attempt) {
    HttpRequest copy = request;
    try {
      HttpResponse response = send_once(copy, scopes, body_limit);
      if (is_retryable_status(response.status) && attempt < options_.max_attempts) {
        backoff(attempt, &response.headers);
        continue;
      }
      return response;
    } catch (const HttpReplyTooLarge& e) {
      fail(ErrorKind::refused, "{}: {}", describe(), e.what());
    } catch (const HttpTransportError& e) {
      if (!e.retryable() || attempt >= options_.max_attempts) {
        fail(ErrorKind::network, "{}: {} (after {} attempt{})", describe(), e.what(), attempt, attempt == 1 ? "" : "s");
      }
      backoff(attempt, nullptr);
    }
  }
}

HttpResponse RegistryClient::send_streamed(const HttpRequest& request, Reader& body,
                                           std::optional<std::uint64_t> length, const Scopes& scopes,
                                           std::string_view what) {
  refuse_downgrade(request.url);
  CountingReader counted(body);
  for (int attempt = 1;; ++attempt) {
    HttpRequest current = request;
    if (auto header = authorization(scopes)) current.headers.push_back(*header);
    try {
      HttpResponse response = http_.upload(current, counted, length, kMaxErrorBodyBytes);
      if (!is_retryable_status(response.status)) return response;
      if (counted.count() > 0) {
        throw InterruptedUpload(fmt::format("{}: {}: the registry answered HTTP {} after {} bytes: {}", describe(),
                                            what, response.status, counted.count(),
                                            summarize_error_body(response.body)));
      }
      if (attempt >= options_.max_attempts) return response;
      backoff(attempt, &response.headers);
    } catch (const HttpTransportError& e) {
      if (counted.count() > 0 && e.retryable()) {
        throw InterruptedUpload(
            fmt::format("{}: {}: {} (after {} bytes)", describe(), what, e.what(), counted.count()));
      }
      if (!e.retryable() || attempt >= options_.max_attempts) {
        fail(ErrorKind::network, "{}: {}: {} (after {} attempt{})", describe(), what, e.what(), attempt,
             attempt == 1 ? "" : "s");
      }
      backoff(attempt, nullptr);
    }
  }
}

std::unique_ptr<HttpStream> RegistryClient::open(HttpRequest request, const Scopes& scopes, std::string_view what) {
  const std::string registry_host = url_authority(base_url());
  bool answered_challenge = false;
  int redirects = 0;
  for (int attempt = 1;;) {
    refuse_downgrade(request.url);
    HttpRequest current = request;
    if (url_authority(current.url) == registry_host) {
      if (auto header = authorization(scopes)) current.headers.push_back(*header);
    }
    std::unique_ptr<HttpStream> stream;
    long status = 0;
    try {
      stream = http_.open(current);
      status = stream->status();
    } catch (const HttpTransportError& e) {
      if (!e.retryable() || attempt >= options_.max_attempts) {
        fail(ErrorKind::network, "{}: {}: {} (after {} attempt{})", describe(), what, e.what(), attempt,
             attempt == 1 ? "" : "s");
      }
      backoff(attempt++, nullptr);
      continue;
    }
    if (status >= 200 && status < 300) return stream;

    HttpResponse response;
    response.status = status;
    response.headers = stream->headers();
    response.url = current.url;
    if (!is_redirect(status)) {
      try {
        response.body = read_all(*stream, kMaxErrorBodyBytes, what);
      } catch (const Error&) {
        // The status says enough; an unreadable error body adds nothing.
      }
    }
    stream.reset();
    if (status == 401 && !answered_challenge && url_authority(current.url) == registry_host) {
      answered_challenge = true;
      if (answer_challenge(response, scopes)) continue;
    }
    if (is_redirect(status)) {
      const auto location = response.headers.get("location");
      if (location && redirects < options_.max_redirects) {
        ++redirects;
        request.url = resolve_url(current.url, *location);
        if (url_authority(request.url) != registry_host) drop_authorization(request);
        continue;
      }
      fail(ErrorKind::registry, "{}: {}: {} {}", describe(), what,
           location ? "too many redirects" : "redirect without Location", status);
    }
    if (is_retryable_status(status) && attempt < options_.max_attempts) {
      backoff(attempt++, &response.headers);
      continue;
    }
    fail_reply(response, what);
  }
}

void RegistryClient::fail_reply(const HttpResponse& response, std::string_view what) const {
  const ErrorKind kind = response.status == 401 || response.status == 403 ? ErrorKind::auth
                         : response.status == 404                         ? ErrorKind::not_found
                                                                          : ErrorKind::registry;
  std::string detail = summarize_error_body(response.body);
  fail(kind, "{}: {}: the registry answered HTTP {}{}{}", describe(), what, response.status, detail.empty() ? "" : ": ",
       detail);
}

}  // namespace ckms::oci
