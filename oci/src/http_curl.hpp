#pragma once
// libcurl plumbing shared by the buffered exchange and the blob stream (private to oci/).

#include <curl/curl.h>

#include <cstring>
#include <exception>
#include <optional>
#include <string>

#include "ckms/oci/http.hpp"

namespace ckms::oci::curl {

void global_init();
bool retryable(CURLcode code);

struct HeaderSink {
  HttpHeaders headers;
  long status = 0;
  std::size_t bytes = 0;
  bool complete = false;  // the final (non-1xx) header block has ended
  bool overflow = false;
  static size_t on_header(char* data, size_t size, size_t count, void* user);
};

// A request body for libcurl: the request's own bytes, or a Reader pulled as the connection
// takes bytes. Exceptions cannot cross libcurl's C frames, so one thrown by the Reader is kept
// here, the transfer aborted, and the caller rethrows it once libcurl has returned.
struct BodySource {
  std::string_view body;
  std::size_t offset = 0;
  Reader* reader = nullptr;
  std::optional<std::uint64_t> reader_length;  // nullopt: chunked transfer encoding
  std::uint64_t consumed = 0;                  // bytes taken from `reader`
  std::exception_ptr failure;

  // Rethrows what the Reader threw, if it threw.
  void rethrow_failure() const {
    if (failure) std::rethrow_exception(failure);
  }
  static size_t on_read(char* buffer, size_t size, size_t count, void* user);
  // libcurl rewinds to resend a body on a fresh connection when a kept-alive one turns out
  // dead. In-memory bodies can always rewind; a Reader only while nothing was taken from it.
  static int on_seek(void* user, curl_off_t offset, int origin);
};

// Sets URL, method, headers, TLS, timeouts, buffer sizes and the header/body callbacks on
// `easy`. `header_list` must be freed by the caller after the transfer.
void configure(CURL* easy, const HttpOptions& options, const HttpRequest& request, HeaderSink& header_sink,
               BodySource& body_source, curl_slist*& header_list);

std::string describe_failure(CURLcode code, const char* error_buffer, const HttpRequest& request);

}  // namespace ckms::oci::curl
