#include "ckms/operator/kube_client.hpp"

#include <curl/curl.h>

#include <exception>
#include <mutex>

namespace ckms::op {
namespace {

ErrorKind kind_for_status(long status) {
  if (status == 401 || status == 403) return ErrorKind::auth;
  if (status == 404) return ErrorKind::not_found;
  if (status == 400 || status == 422) return ErrorKind::usage;
  if (status >= 500 || status == 429) return ErrorKind::network;
  return ErrorKind::internal;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Exchange {
  CURL* easy = nullptr;
  std::size_t limit = 0;
  std::string body;
  bool over_limit = false;
  const std::function<void(std::string_view)>* on_data = nullptr;
  const std::atomic<bool>* stop = nullptr;
  bool stopped = false;
  std::exception_ptr error;

  static size_t on_write(char* data, size_t size, size_t count, void* self_ptr) {
    auto* self = static_cast<Exchange*>(self_ptr);
    const size_t n = size * count;
    long status = 0;
    curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &status);
    // Streams hand 2xx bodies on; anything else (and every buffered reply) is collected.
    if (self->on_data && status >= 200 && status < 300) {
      try {
        (*self->on_data)(std::string_view(data, n));
      } catch (...) {
        self->error = std::current_exception();
        return 0;
      }
      return n;
    }
    if (self->body.size() + n > self->limit) {
      self->over_limit = true;
      return 0;
    }
    self->body.append(data, n);
    return n;
  }

  static int on_progress(void* self_ptr, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* self = static_cast<Exchange*>(self_ptr);
    if (self->stop && self->stop->load()) {
      self->stopped = true;
      return 1;
    }
    return 0;
  }
};

void set_blob(CURL* easy, CURLoption option, const std::string& pem) {
  curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
  curl_easy_setopt(easy, option, &blob);
}

}  // namespace

ApiError::ApiError(long status, std::string reason, const std::string& message)
    : Error(kind_for_status(status), message), status_(status), reason_(std::move(reason)) {}

void check_reply(const ApiReply& reply, std::string_view method, std::string_view path) {
  if (reply.status >= 200 && reply.status < 300) return;
  std::string reason;
  std::string message = reply.body.substr(0, 512);
  const auto status = nlohmann::json::parse(reply.body, nullptr, false);
  if (status.is_object() && status.value("kind", "") == "Status") {
    reason = status.value("reason", "");
    message = status.value("message", message);
  }
  throw ApiError(
      reply.status, reason,
      fmt::format("API server: {} {}: {} {}", method, path, reply.status, message.empty() ? reason : message));
}

struct KubeClient::Handle {
  CURL* easy = nullptr;
  ~Handle() {
    if (easy) curl_easy_cleanup(easy);
  }
};

KubeClient::KubeClient(KubeConfig config, ClientOptions options)
    : config_(std::move(config)), options_(std::move(options)), handle_(std::make_unique<Handle>()) {
  global_init();
  handle_->easy = curl_easy_init();
  if (!handle_->easy) fail(ErrorKind::internal, "curl_easy_init failed");
}

KubeClient::~KubeClient() = default;

namespace {

// Everything but the body handling and timeouts, the same for every request.
curl_slist* prepare(CURL* easy, const KubeConfig& config, const ClientOptions& options, std::string_view method,
                    const std::string& url, const std::string* body, std::string_view content_type) {
  curl_easy_reset(easy);
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  if (!config.ca_pem.empty()) set_blob(easy, CURLOPT_CAINFO_BLOB, config.ca_pem);
  if (config.insecure_skip_tls_verify) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!config.client_cert_pem.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
    set_blob(easy, CURLOPT_SSLCERT_BLOB, config.client_cert_pem);
    curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    set_blob(easy, CURLOPT_SSLKEY_BLOB, config.client_key_pem);
  }
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  const std::string token = config.bearer_token();
  if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  if (body) {
    headers = curl_slist_append(headers, fmt::format("Content-Type: {}", content_type).c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body->data());
  }
  if (method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else {
    // libcurl copies string options, so a temporary is fine here.
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  return headers;
}

}  // namespace

ApiReply KubeClient::send(std::string_view method, const std::string& path, const std::string* body,
                          std::string_view content_type) {
  const std::string url = config_.server + path;
  CURL* easy = handle_->easy;
  curl_slist* headers = prepare(easy, config_, options_, method, url, body, content_type);
  Exchange exchange{easy, options_.body_limit};
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Exchange::on_write);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &exchange);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT, static_cast<long>(options_.request_timeout.count()));
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  const CURLcode code = curl_easy_perform(easy);
  curl_slist_free_all(headers);
  if (exchange.over_limit)
    fail(ErrorKind::network, "API server: {} {}: reply larger than {} bytes", method, path, options_.body_limit);
  if (code != CURLE_OK)
    fail(ErrorKind::network, "API server {}: {} {}: {}", config_.server, method, path,
         error_buffer[0] ? error_buffer : curl_easy_strerror(code));
  ApiReply reply;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply.status);
  reply.body = std::move(exchange.body);
  return reply;
}

namespace {
nlohmann::json parse_body(const ApiReply& reply, std::string_view method, std::string_view path) {
  auto parsed = nlohmann::json::parse(reply.body, nullptr, false);
  if (parsed.is_discarded()) fail(ErrorKind::network, "API server: {} {}: reply is not JSON", method, path);
  return parsed;
}
}  // namespace

nlohmann::json KubeClient::get(const std::string& path) {
  const ApiReply reply = send("GET", path);
  check_reply(reply, "GET", path);
  return parse_body(reply, "GET", path);
}

nlohmann::json KubeClient::create(const std::string& collection, const nlohmann::json& object) {
  const std::string body = object.dump();
  const ApiReply reply = send("POST", collection, &body);
  check_reply(reply, "POST", collection);
  return parse_body(reply, "POST", collection);
}

nlohmann::json KubeClient::replace(const std::string& path, const nlohmann::json& object) {
  const std::string body = object.dump();
  const ApiReply reply = send("PUT", path, &body);
  check_reply(reply, "PUT", path);
  return parse_body(reply, "PUT", path);
}

bool KubeClient::remove(const std::string& path) {
  const std::string body = R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"})";
  const ApiReply reply = send("DELETE", path, &body);
  if (reply.status == 404) return false;
  check_reply(reply, "DELETE", path);
  return true;
}

void KubeClient::stream(const std::string& path, const std::function<void(std::string_view)>& on_data,
                        const std::atomic<bool>& stop, std::chrono::seconds max_time) {
  const std::string url = config_.server + path;
  CURL* easy = handle_->easy;
  curl_slist* headers = prepare(easy, config_, options_, "GET", url, nullptr, {});
  Exchange exchange{easy, 64 << 10};
  exchange.on_data = &on_data;
  exchange.stop = &stop;
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Exchange::on_write);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &exchange);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &Exchange::on_progress);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &exchange);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT, static_cast<long>(max_time.count()));
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  const CURLcode code = curl_easy_perform(easy);
  curl_slist_free_all(headers);
  if (exchange.error) std::rethrow_exception(exchange.error);
  if (exchange.stopped) return;
  if (code != CURLE_OK)
    fail(ErrorKind::network, "API server {}: watch {}: {}", config_.server, path,
         error_buffer[0] ? error_buffer : curl_easy_strerror(code));
  ApiReply reply;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply.status);
  reply.body = std::move(exchange.body);
  check_reply(reply, "GET", path);
}

}  // namespace ckms::op
