#include <catch2/catch.hpp>

#include "ckms/oci/auth_challenge.hpp"

using ckms::oci::parse_www_authenticate;

TEST_CASE("a Bearer challenge yields realm, service and scope") {
  const auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:ckms/hello:pull,push")");
  REQUIRE(c.size() == 1);
  CHECK(c[0].scheme == "bearer");
  CHECK(c[0].param("realm") == "https://auth.example.com/token");
  CHECK(c[0].param("service") == "registry.example.com");
  CHECK(c[0].param("scope") == "repository:ckms/hello:pull,push");
}

TEST_CASE("quoted values keep escaped quotes and commas") {
  const auto c = parse_www_authenticate(R"(Basic realm="say \"hi\", then go", charset="UTF-8")");
  REQUIRE(c.size() == 1);
  CHECK(c[0].scheme == "basic");
  CHECK(c[0].param("realm") == R"(say "hi", then go)");
  CHECK(c[0].param("charset") == "UTF-8");
}

TEST_CASE("several challenges in one header are told apart") {
  const auto c = parse_www_authenticate(
      R"(Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple", Bearer realm="https://t/x",error="insufficient_scope")");
  REQUIRE(c.size() == 3);
  CHECK(c[0].scheme == "newauth");
  CHECK(c[0].param("type") == "1");
  CHECK(c[0].param("title") == R"(Login to "apps")");
  CHECK(c[1].scheme == "basic");
  CHECK(c[1].param("realm") == "simple");
  CHECK(c[2].scheme == "bearer");
  CHECK(c[2].param("error") == "insufficient_scope");
}

TEST_CASE("scheme and parameter names are case-insensitive, spacing is free") {
  const auto c = parse_www_authenticate("BEARER   Realm = \"r\" ,  SERVICE=svc");
  REQUIRE(c.size() == 1);
  CHECK(c[0].scheme == "bearer");
  CHECK(c[0].param("realm") == "r");
  CHECK(c[0].param("service") == "svc");
}

TEST_CASE("token68 challenges and bare schemes are understood") {
  const auto c = parse_www_authenticate("Negotiate abc123+/==, Basic");
  REQUIRE(c.size() == 2);
  CHECK(c[0].token68 == "abc123+/==");
  CHECK(c[1].scheme == "basic");
  CHECK(c[1].params.empty());
}

TEST_CASE("malformed headers give what could be read and never crash") {
  CHECK(parse_www_authenticate("").empty());
  CHECK(parse_www_authenticate(" , ,").empty());
  const auto unterminated = parse_www_authenticate(R"(Bearer realm="https://t/x)");
  REQUIRE(unterminated.size() == 1);
  CHECK(unterminated[0].param("realm") == "https://t/x");
  for (const char* junk : {"=", "\"", "Bearer =", "Bearer realm=", "Bearer realm=\"\\", "@@@ realm=x"}) {
    CHECK_NOTHROW(parse_www_authenticate(junk));
  }
}
