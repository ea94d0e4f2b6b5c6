#pragma once
// Answers a registry's 401 challenges: Basic from credentials, or a Bearer token fetched
// from the challenge's realm for the scopes a request needs and cached per scope until it
// expires. A push needs "repository:<name>:pull,push"; a cross-repository mount also needs
// "repository:<source>:pull" in the same token.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ckms/oci/auth_challenge.hpp"
#include "ckms/oci/auth_credentials.hpp"
#include "ckms/oci/http.hpp"

namespace ckms::oci {

using Scopes = std::vector<std::string>;  // "repository:ckms/hello:pull,push", ...

std::string repository_scope(std::string_view repository, bool push);

struct AuthPolicy {
  std::string registry;  // host[:port], for the realm's host check
  // A plain-http registry on loopback (tests, a local mirror) may use a plain-http realm,
  // also on loopback; any other realm must be https.
  bool registry_plain_http = false;
  // Names what is being accessed in messages ("127.0.0.1:5000/ckms/hello").
  std::string subject;
};

class Authenticator {
 public:
  using Send = std::function<HttpResponse(const HttpRequest&, std::size_t body_limit)>;
  using CredentialSource = std::function<std::optional<Credentials>()>;

  Authenticator(AuthPolicy policy, CredentialSource credentials, Send send);

  // The Authorization header for a request needing `scopes`, when a challenge is known.
  std::optional<std::string> header(const Scopes& scopes);

  // Learns from a 401 reply; returns whether a retry with the new authorization can succeed
  // (false when the same scopes were already answered and rejected).
  bool on_unauthorized(const HttpResponse& response, const Scopes& scopes);

 private:
  struct Token {
    std::string value;
    std::chrono::steady_clock::time_point expires;
  };
  const Credentials* credentials();
  std::string fetch_token(const Scopes& scopes);
  void check_realm(const std::string& realm, bool with_credentials) const;

  AuthPolicy policy_;
  CredentialSource credential_source_;
  std::optional<std::optional<Credentials>> credentials_;  // looked up once, lazily
  Send send_;
  std::optional<AuthChallenge> challenge_;
  std::map<std::string, Token> tokens_;  // by space-joined scopes
};

}  // namespace ckms::oci
