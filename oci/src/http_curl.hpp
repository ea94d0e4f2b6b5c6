#pragma once
// libcurl plumbing shared by the buffered exchange and the blob stream (private to oci/).

#include <curl/curl.h>

#include <cstring>
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

struct BodySource {
  std::string_view body;
  std::size_t offset = 0;
  static size_t on_read(char* buffer, size_t size, size_t count, void* user);
};

// Sets URL, method, headers, TLS, timeouts and the header/body callbacks on `easy`.
// `header_list` must be freed by the caller after the transfer.
void configure(CURL* easy, const HttpOptions& options, const HttpRequest& request,
               HeaderSink& header_sink, BodySource& body_source, curl_slist*& header_list);

std::string describe_failure(CURLcode code, const char* error_buffer, const HttpRequest& request);

}  // namespace ckms::oci::curl
