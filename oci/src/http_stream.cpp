// A blob body as a pull-style Reader. libcurl pushes bytes through a callback; a multi
// handle lets us drive the transfer only when the reader wants bytes, and pausing the
// transfer once the buffer is full keeps memory at one buffer however large the blob is.

#include <curl/curl.h>

#include "ckms/oci/http.hpp"
#include "http_curl.hpp"

namespace ckms::oci {
namespace {

class CurlStream final : public HttpStream {
 public:
  CurlStream(const HttpOptions& options, const HttpRequest& request)
      : request_(request), limit_(options.stream_buffer) {
    curl::global_init();
    easy_ = curl_easy_init();
    multi_ = curl_multi_init();
    if (!easy_ || !multi_) fail(ErrorKind::internal, "cannot initialise libcurl");
    curl::configure(easy_, options, request_, header_sink_, body_source_, header_list_);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &CurlStream::on_write);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_buffer_);
    curl_multi_add_handle(multi_, easy_);
  }

  ~CurlStream() override {
    curl_multi_remove_handle(multi_, easy_);
    curl_easy_cleanup(easy_);
    curl_multi_cleanup(multi_);
    curl_slist_free_all(header_list_);
  }

  long status() override {
    wait_for_headers();
    return header_sink_.status;
  }

  const HttpHeaders& headers() override {
    wait_for_headers();
    return header_sink_.headers;
  }

  std::size_t read(std::span<std::byte> out) override {
    while (pending() == 0 && !done_) pump();
    if (pending() == 0) {
      check_result();
      return 0;
    }
    const std::size_t n = std::min(out.size(), pending());
    std::memcpy(out.data(), buffer_.data() + offset_, n);
    offset_ += n;
    if (offset_ == buffer_.size()) {
      buffer_.clear();
      offset_ = 0;
    }
    return n;
  }

 private:
  std::size_t pending() const { return buffer_.size() - offset_; }

  static size_t on_write(char* data, size_t size, size_t count, void* user) {
    auto* self = static_cast<CurlStream*>(user);
    if (self->pending() >= self->limit_) {
      self->paused_ = true;
      return CURL_WRITEFUNC_PAUSE;
    }
    if (self->offset_ > 0) {
      self->buffer_.erase(0, self->offset_);
      self->offset_ = 0;
    }
    self->buffer_.append(data, size * count);
    return size * count;
  }

  void wait_for_headers() {
    while (!header_sink_.complete && !done_) pump();
    if (!header_sink_.complete) check_result();
  }

  void pump() {
    if (paused_ && pending() < limit_) {
      paused_ = false;
      curl_easy_pause(easy_, CURLPAUSE_CONT);
    }
    int running = 0;
    curl_multi_perform(multi_, &running);
    while (CURLMsg* message = curl_multi_info_read(multi_, &running)) {
      if (message->msg == CURLMSG_DONE) {
        done_ = true;
        result_ = message->data.result;
      }
    }
    // Wait for the socket only when there is nothing to hand out: waiting while holding bytes
    // would stall the reader (and an upload it feeds) until the next packet.
    if (done_ || pending() > 0) return;
    curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
  }

  void check_result() {
    if (header_sink_.overflow) {
      throw HttpTransportError(
          fmt::format("{} {}: reply headers exceed {} bytes", request_.method, request_.url, kMaxHeaderBytes), false);
    }
    if (result_ != CURLE_OK) {
      throw HttpTransportError(curl::describe_failure(result_, error_buffer_, request_), curl::retryable(result_));
    }
  }

  HttpRequest request_;
  std::size_t limit_;
  CURL* easy_ = nullptr;
  CURLM* multi_ = nullptr;
  curl_slist* header_list_ = nullptr;
  curl::HeaderSink header_sink_;
  curl::BodySource body_source_;
  char error_buffer_[CURL_ERROR_SIZE] = {};
  std::string buffer_;
  std::size_t offset_ = 0;
  bool paused_ = false;
  bool done_ = false;
  CURLcode result_ = CURLE_OK;
};

}  // namespace

std::unique_ptr<HttpStream> HttpClient::open(const HttpRequest& request) {
  return std::make_unique<CurlStream>(options_, request);
}

}  // namespace ckms::oci
