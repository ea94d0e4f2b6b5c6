#include "ckms/oci/auth_token.hpp"

#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"

namespace ckms::oci {
namespace {

constexpr std::size_t kMaxTokenResponseBytes = 1 << 20;
// The distribution token spec: a missing or shorter expires_in means 60 seconds.
constexpr std::chrono::seconds kMinTokenLifetime{60};
// Renew a little early so a token does not expire between our check and the registry's.
constexpr std::chrono::seconds kExpiryMargin{10};

std::string join(const Scopes& scopes) {
  std::string out;
  for (const auto& scope : scopes) out += (out.empty() ? "" : " ") + scope;
  return out;
}

std::string basic_header(const Credentials& credentials) {
  return "Authorization: Basic " + base64_encode(credentials.username + ":" + credentials.password);
}

std::string reply_excerpt(const HttpResponse& response) {
  std::string body = response.body.substr(0, 300);
  for (char& c : body) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return body;
}

}  // namespace

std::string repository_scope(std::string_view repository, bool push) {
  return fmt::format("repository:{}:{}", repository, push ? "pull,push" : "pull");
}

Authenticator::Authenticator(AuthPolicy policy, CredentialSource credentials, Send send)
    : policy_(std::move(policy)), credential_source_(std::move(credentials)), send_(std::move(send)) {}

const Credentials* Authenticator::credentials() {
  if (!credentials_) credentials_ = credential_source_();
  return *credentials_ ? &**credentials_ : nullptr;
}

std::optional<std::string> Authenticator::header(const Scopes& scopes) {
  if (!challenge_) return std::nullopt;
  if (challenge_->scheme == "basic") {
    const Credentials* creds = credentials();
    if (!creds) return std::nullopt;
    return basic_header(*creds);
  }
  const std::string key = join(scopes);
  const auto it = tokens_.find(key);
  if (it != tokens_.end() && std::chrono::steady_clock::now() < it->second.expires) {
    return "Authorization: Bearer " + it->second.value;
  }
  return "Authorization: Bearer " + fetch_token(scopes);
}

bool Authenticator::on_unauthorized(const HttpResponse& response, const Scopes& scopes) {
  std::optional<AuthChallenge> chosen;
  for (const auto& value : response.headers.all("www-authenticate")) {
    for (auto& challenge : parse_www_authenticate(value)) {
      // Bearer is preferred: it never sends the password to the registry itself.
      if (challenge.scheme == "bearer") {
        chosen = std::move(challenge);
        break;
      }
      if (challenge.scheme == "basic" && !chosen) chosen = std::move(challenge);
    }
    if (chosen && chosen->scheme == "bearer") break;
  }
  if (!chosen) {
    fail(ErrorKind::auth,
         "{}: the registry asks for authentication without a challenge ckms understands "
         "(WWW-Authenticate: {})",
         policy_.subject, response.headers.get("www-authenticate").value_or("<missing>"));
  }
  const bool known =
      challenge_ && challenge_->scheme == chosen->scheme && challenge_->param("realm") == chosen->param("realm");
  if (chosen->scheme == "basic") {
    if (known || !credentials()) return false;  // the registry has seen our credentials already
    challenge_ = std::move(chosen);
    return true;
  }
  const std::string key = join(scopes);
  const bool had_token = known && tokens_.contains(key);
  challenge_ = std::move(chosen);
  tokens_.erase(key);
  // A token we fetched for exactly these scopes was refused: asking again gives the same.
  return !had_token;
}

void Authenticator::check_realm(const std::string& realm, bool with_credentials) const {
  if (realm.starts_with("https://")) return;
  if (!realm.starts_with("http://")) {
    fail(ErrorKind::refused, "{}: token realm '{}' is not an http(s) URL", policy_.subject, realm);
  }
  const std::string realm_host = url_authority(realm);
  if (!(policy_.registry_plain_http && is_loopback_host(policy_.registry) && is_loopback_host(realm_host))) {
    fail(ErrorKind::refused, "{}: refusing token realm {} over plain http{}", policy_.subject, realm,
         with_credentials ? " (it would carry credentials)" : "");
  }
}

std::string Authenticator::fetch_token(const Scopes& scopes) {
  const std::string realm = challenge_->param("realm").value_or("");
  if (realm.empty()) fail(ErrorKind::auth, "{}: Bearer challenge without a realm", policy_.subject);
  const Credentials* creds = credentials();
  check_realm(realm, creds != nullptr);

  HttpRequest request;
  std::string query;
  if (auto service = challenge_->param("service")) query += "service=" + url_escape(*service);
  for (const auto& scope : scopes) query += (query.empty() ? "" : "&") + ("scope=" + url_escape(scope));
  if (creds && !creds->identity_token.empty()) {
    // OAuth2 refresh-token grant (docker's identity tokens).
    request.method = "POST";
    request.url = realm;
    request.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    request.body =
        query + "&grant_type=refresh_token&client_id=ckms&refresh_token=" + url_escape(creds->identity_token);
    request.has_body = true;
  } else {
    request.url = realm + (realm.find('?') == std::string::npos ? "?" : "&") + query;
    if (creds) request.headers.push_back(basic_header(*creds));
  }
  const HttpResponse response = send_(request, kMaxTokenResponseBytes);
  if (response.status == 401 || response.status == 403) {
    fail(ErrorKind::auth, "{}: the token service {} rejected {} (HTTP {}): {}", policy_.subject, realm,
         creds ? "the credentials" : "anonymous access", response.status, reply_excerpt(response));
  }
  if (response.status != 200) {
    fail(ErrorKind::auth, "{}: the token service {} answered HTTP {}: {}", policy_.subject, realm, response.status,
         reply_excerpt(response));
  }
  nlohmann::json reply;
  try {
    reply = nlohmann::json::parse(response.body);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::auth, "{}: the token service {} sent unreadable JSON: {}", policy_.subject, realm, e.what());
  }
  std::string token = reply.value("token", "");
  if (token.empty()) token = reply.value("access_token", "");
  if (token.empty()) fail(ErrorKind::auth, "{}: the token service {} sent no token", policy_.subject, realm);
  std::chrono::seconds lifetime{reply.value("expires_in", 0)};
  lifetime = std::max(lifetime, kMinTokenLifetime);
  tokens_[join(scopes)] = Token{token, std::chrono::steady_clock::now() + lifetime - kExpiryMargin};
  return token;
}

}  // namespace ckms::oci
