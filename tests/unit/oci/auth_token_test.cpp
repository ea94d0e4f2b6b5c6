// The Authenticator against a scripted token endpoint: which requests it makes, what it
// caches, and which realms it refuses.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/auth_token.hpp"

using namespace ckms::oci;

namespace {

HttpResponse unauthorized(const std::string& challenge) {
  HttpResponse response;
  response.status = 401;
  response.headers.add("WWW-Authenticate", challenge);
  return response;
}

struct TokenEndpoint {
  std::vector<HttpRequest> requests;
  std::string reply = R"({"access_token":"tok-1","expires_in":300})";
  long status = 200;
  Authenticator::Send send() {
    return [this](const HttpRequest& request, std::size_t) {
      requests.push_back(request);
      HttpResponse response;
      response.status = status;
      response.body = reply;
      return response;
    };
  }
};

Authenticator::CredentialSource no_credentials() {
  return [] { return std::optional<Credentials>{}; };
}

}  // namespace

TEST_CASE("a Bearer challenge leads to one token request per scope set, then the cache") {
  TokenEndpoint endpoint;
  Authenticator auth(
      {"registry.example.com", false, "registry.example.com/a"},
      [] {
        return std::optional<Credentials>(Credentials{"u", "p", ""});
      },
      endpoint.send());
  const Scopes push{repository_scope("ckms/hello", true)};
  CHECK_FALSE(auth.header(push).has_value());
  REQUIRE(auth.on_unauthorized(unauthorized(R"(Bearer realm="https://auth.example.com/token",service="reg")"), push));
  CHECK(auth.header(push) == "Authorization: Bearer tok-1");
  CHECK(auth.header(push) == "Authorization: Bearer tok-1");
  REQUIRE(endpoint.requests.size() == 1);
  const HttpRequest& request = endpoint.requests[0];
  CHECK(request.url == "https://auth.example.com/token?service=reg&scope=repository%3Ackms%2Fhello%3Apull%2Cpush");
  CHECK(std::find(request.headers.begin(), request.headers.end(), "Authorization: Basic dTpw") !=
        request.headers.end());

  // Another scope set is another token.
  endpoint.reply = R"({"token":"tok-2"})";
  CHECK(auth.header({repository_scope("ckms/other", false)}) == "Authorization: Bearer tok-2");
  CHECK(endpoint.requests.size() == 2);
}

TEST_CASE("a token refused for the same scopes is not asked for again") {
  TokenEndpoint endpoint;
  Authenticator auth({"registry.example.com", false, "registry.example.com/a"}, no_credentials(), endpoint.send());
  const Scopes pull{repository_scope("a", false)};
  const auto challenge = unauthorized(R"(Bearer realm="https://auth.example.com/token")");
  REQUIRE(auth.on_unauthorized(challenge, pull));
  REQUIRE(auth.header(pull));
  CHECK_FALSE(auth.on_unauthorized(challenge, pull));
}

TEST_CASE("the token endpoint's refusal is an auth error naming the realm") {
  TokenEndpoint endpoint;
  endpoint.status = 401;
  endpoint.reply = R"({"details":"bad password"})";
  Authenticator auth(
      {"registry.example.com", false, "registry.example.com/a"},
      [] {
        return std::optional<Credentials>(Credentials{"u", "wrong", ""});
      },
      endpoint.send());
  const Scopes pull{repository_scope("a", false)};
  REQUIRE(auth.on_unauthorized(unauthorized(R"(Bearer realm="https://auth.example.com/token")"), pull));
  try {
    auth.header(pull);
    FAIL("no error");
  } catch (const ckms::Error& e) {
    CHECK(e.kind() == ckms::ErrorKind::auth);
    CHECK_THAT(e.what(), Catch::Contains("https://auth.example.com/token") && Catch::Contains("bad password"));
  }
}

TEST_CASE("plain-http realms are refused unless registry and realm are both loopback") {
  TokenEndpoint endpoint;
  const Scopes pull{repository_scope("a", false)};
  {
    Authenticator auth(
        {"registry.example.com", false, "registry.example.com/a"},
        [] {
          return std::optional<Credentials>(Credentials{"u", "p", ""});
        },
        endpoint.send());
    REQUIRE(auth.on_unauthorized(unauthorized(R"(Bearer realm="http://auth.example.com/token")"), pull));
    CHECK_THROWS_AS(auth.header(pull), ckms::Error);
  }
  {
    Authenticator auth({"127.0.0.1:5000", true, "127.0.0.1:5000/a"}, no_credentials(), endpoint.send());
    REQUIRE(auth.on_unauthorized(unauthorized(R"(Bearer realm="http://evil.example.com/token")"), pull));
    CHECK_THROWS_AS(auth.header(pull), ckms::Error);
  }
  {
    Authenticator auth({"127.0.0.1:5000", true, "127.0.0.1:5000/a"}, no_credentials(), endpoint.send());
    REQUIRE(auth.on_unauthorized(unauthorized(R"(Bearer realm="http://127.0.0.1:5001/token")"), pull));
    CHECK(auth.header(pull) == "Authorization: Bearer tok-1");
  }
  CHECK(endpoint.requests.size() == 1);
}

TEST_CASE("Basic challenges use the credentials, once") {
  TokenEndpoint endpoint;
  Authenticator auth(
      {"registry.example.com", false, "registry.example.com/a"},
      [] {
        return std::optional<Credentials>(Credentials{"u", "p", ""});
      },
      endpoint.send());
  const Scopes pull{repository_scope("a", false)};
  const auto challenge = unauthorized(R"(Basic realm="registry")");
  REQUIRE(auth.on_unauthorized(challenge, pull));
  CHECK(auth.header(pull) == "Authorization: Basic dTpw");
  CHECK_FALSE(auth.on_unauthorized(challenge, pull));
  CHECK(endpoint.requests.empty());

  Authenticator anonymous({"registry.example.com", false, "registry.example.com/a"}, no_credentials(), endpoint.send());
  CHECK_FALSE(anonymous.on_unauthorized(challenge, pull));
}
