#pragma once
// The request layer behind RegistryRepository (private to oci/): URLs for one repository,
// and sending with auth, retries and redirects, so each operation only says what it asks.
// Safe to use from several threads: the HTTP client pools its handles and the token cache
// is behind a lock.

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "ckms/oci/auth_token.hpp"
#include "ckms/oci/http.hpp"
#include "ckms/oci/registry.hpp"

namespace ckms::oci {

class RegistryClient {
 public:
  RegistryClient(RegistryReference reference, RegistryOptions options);

  const RegistryReference& reference() const { return reference_; }
  const RegistryOptions& options() const { return options_; }
  std::string describe() const { return reference_.repository_str(); }

  // scheme://host/v2/
  std::string base_url() const;
  // scheme://host/v2/<repository>/<suffix>
  std::string url(std::string_view suffix) const;

  Scopes pull_scope() const { return {repository_scope(reference_.repository, false)}; }
  Scopes push_scope() const { return {repository_scope(reference_.repository, true)}; }
  // Distribution asks for a separate "delete" action to remove manifests.
  Scopes delete_scope() const { return {fmt::format("repository:{}:delete", reference_.repository)}; }

  // Sends with authorization for `scopes`, answering one 401 challenge, retrying transport
  // failures, 429 and 5xx with backoff, and following redirects of GET/HEAD (without the
  // Authorization header when they leave the registry's host). Returns any final reply;
  // callers decide which statuses are errors.
  // `scopes` nullopt sends no credentials at all (token endpoints); an empty list asks for
  // authorization without repository access (GET /v2/).
  HttpResponse send(HttpRequest request, const std::optional<Scopes>& scopes,
                    std::size_t body_limit = kMaxErrorBodyBytes);

  // Sends `request` with its body read from `body` while it goes out (HttpClient::upload).
  // Auth must be settled for `scopes` by an earlier request (the POST that opened the upload
  // session), since a 401 cannot be answered by sending the body again. Retries like send()
  // only while nothing has been read from `body`; a retryable failure after that throws
  // InterruptedUpload naming `what`.
  HttpResponse send_streamed(const HttpRequest& request, Reader& body, std::optional<std::uint64_t> length,
                             const Scopes& scopes, std::string_view what);

  // The same for a streamed GET: returns once a final (non-redirect, non-retryable) header
  // block has arrived. A non-2xx reply is turned into an error here.
  std::unique_ptr<HttpStream> open(HttpRequest request, const Scopes& scopes, std::string_view what);

  // Throws the error for an unexpected reply: kind from the status (401/403 auth, 404
  // not_found, else registry), message naming the repository, the operation, the HTTP status
  // and the distribution error codes and messages from the body (truncated).
  [[noreturn]] void fail_reply(const HttpResponse& response, std::string_view what) const;

  // Sleeps before attempt `attempt` (1-based count of failures so far), honouring Retry-After.
  void backoff(int attempt, const HttpHeaders* headers) const;

 private:
  void refuse_downgrade(std::string_view url) const;
  HttpResponse send_once(HttpRequest& request, const std::optional<Scopes>& scopes, std::size_t body_limit);
  // The Authenticator under auth_mutex_. Token requests go out without scopes, so they never
  // come back here while the lock is held.
  std::optional<std::string> authorization(const Scopes& scopes);
  bool answer_challenge(const HttpResponse& response, const Scopes& scopes);

  RegistryReference reference_;
  RegistryOptions options_;
  HttpClient http_;
  std::mutex auth_mutex_;
  Authenticator auth_;
};

// "CODE: message; CODE: message" from a distribution error body, else the body's start.
std::string summarize_error_body(std::string_view body);
bool is_retryable_status(long status);
// Accept for manifest requests: OCI and Docker manifests and indexes.
std::string manifest_accept_header();

}  // namespace ckms::oci
