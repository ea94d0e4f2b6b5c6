#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/auth_credentials.hpp"
#include "require_error.hpp"

using namespace ckms::oci;

namespace {

CredentialHelper recording_helper(std::vector<std::string>& calls) {
  return [&calls](const std::string& helper, const std::string& host) -> std::optional<Credentials> {
    calls.push_back(helper + " " + host);
    return Credentials{"from-" + helper, "secret", ""};
  };
}

}  // namespace

TEST_CASE("auths entries with base64 auth, plain fields and scheme-qualified keys") {
  const std::string config = R"({
    "auths": {
      "registry.example.com": {"auth": ")" +
                             base64_encode("alice:pa:ss") + R"("},
      "https://other.example.com/v1/": {"username": "bob", "password": "pw"},
      "https://index.docker.io/v1/": {"auth": ")" +
                             base64_encode("hub:token") + R"("},
      "127.0.0.1:5000": {"identitytoken": "refresh"}
    }
  })";
  std::vector<std::string> calls;
  const auto alice = credentials_from_config(config, "registry.example.com", "config.json", recording_helper(calls));
  REQUIRE(alice);
  CHECK(alice->username == "alice");
  CHECK(alice->password == "pa:ss");
  const auto bob = credentials_from_config(config, "other.example.com", "config.json", recording_helper(calls));
  REQUIRE(bob);
  CHECK(bob->username == "bob");
  const auto hub = credentials_from_config(config, "docker.io", "config.json", recording_helper(calls));
  REQUIRE(hub);
  CHECK(hub->password == "token");
  const auto local = credentials_from_config(config, "127.0.0.1:5000", "config.json", recording_helper(calls));
  REQUIRE(local);
  CHECK(local->identity_token == "refresh");
  CHECK_FALSE(credentials_from_config(config, "unknown.example.com", "config.json", recording_helper(calls)));
  CHECK(calls.empty());
}

TEST_CASE("credHelpers win over auths, credsStore is the fallback") {
  const std::string config = R"({
    "auths": {"a.example.com": {"auth": ")" +
                             base64_encode("u:p") + R"("}, "b.example.com": {}},
    "credHelpers": {"a.example.com": "ecr-login"},
    "credsStore": "pass"
  })";
  std::vector<std::string> calls;
  const auto a = credentials_from_config(config, "a.example.com", "config.json", recording_helper(calls));
  REQUIRE(a);
  CHECK(a->username == "from-ecr-login");
  // An empty auths entry (docker writes those when a store holds the secret) defers to the store.
  const auto b = credentials_from_config(config, "b.example.com", "config.json", recording_helper(calls));
  REQUIRE(b);
  CHECK(b->username == "from-pass");
  CHECK(calls == std::vector<std::string>{"ecr-login a.example.com", "pass b.example.com"});
}

TEST_CASE("a containers auth.json has the same shape") {
  const std::string auth_json = R"({"auths": {"quay.io": {"auth": ")" + base64_encode("q:w") + R"("}}})";
  const auto c = credentials_from_config(auth_json, "quay.io", "auth.json");
  REQUIRE(c);
  CHECK(c->username == "q");
  CHECK(c->password == "w");
}

TEST_CASE("malformed credential files are refused with the file named") {
  ckms::testkit::require_error([] { credentials_from_config("{not json", "x", "/home/u/.docker/config.json"); },
                               ckms::ErrorKind::usage, "/home/u/.docker/config.json");
  const std::string bad_auth = R"({"auths": {"x": {"auth": "bm9jb2xvbg=="}}})";  // "nocolon"
  CHECK_THROWS_AS(credentials_from_config(bad_auth, "x", "auth.json"), ckms::Error);
}

TEST_CASE("registry keys and base64 round-trip") {
  CHECK(normalize_registry_key("https://index.docker.io/v1/") == "index.docker.io");
  CHECK(normalize_registry_key("127.0.0.1:5000") == "127.0.0.1:5000");
  CHECK(normalize_registry_key("http://127.0.0.1:5000/") == "127.0.0.1:5000");
  for (const std::string s : {"", "a", "ab", "abc", "user:password with spaces"}) {
    CHECK(base64_decode(base64_encode(s)) == s);
  }
  CHECK(base64_decode("YWI") == "ab");  // padding dropped by some writers
}

TEST_CASE("an explicit auth file is the only one consulted") {
  CHECK(credential_files(std::filesystem::path("/x/auth.json")) == std::vector<std::filesystem::path>{"/x/auth.json"});
  CHECK(default_auth_file(std::filesystem::path("/x/auth.json")) == "/x/auth.json");
}
