#include <catch2/catch.hpp>

#include "ckms/oci/http_headers.hpp"

using namespace std::chrono;
using ckms::oci::parse_link_next;
using ckms::oci::parse_retry_after;

TEST_CASE("the next link is found among links and parameters") {
  CHECK(parse_link_next(R"(</v2/a/tags/list?last=b&n=2>; rel="next")") == "/v2/a/tags/list?last=b&n=2");
  CHECK(parse_link_next(R"(<https://x/prev>; rel="prev", <https://x/next?a=1,2>; rel="next")") ==
        "https://x/next?a=1,2");
  CHECK(parse_link_next(R"(<https://x/n>; title="a, b"; REL=next)") == "https://x/n");
  CHECK(parse_link_next(R"(<https://x/n>; rel="prefetch next")") == "https://x/n");
}

TEST_CASE("no next link means the last page") {
  CHECK_FALSE(parse_link_next("").has_value());
  CHECK_FALSE(parse_link_next(R"(</v2/a/tags/list?last=b>; rel="prev")").has_value());
  CHECK_FALSE(parse_link_next("garbage").has_value());
  CHECK_FALSE(parse_link_next("<unterminated; rel=next").has_value());
}

TEST_CASE("Retry-After in seconds") {
  const auto now = system_clock::now();
  CHECK(parse_retry_after("3", now) == milliseconds(3000));
  CHECK(parse_retry_after(" 0 ", now) == milliseconds(0));
  CHECK_FALSE(parse_retry_after("3s", now).has_value());
  CHECK_FALSE(parse_retry_after("-1", now).has_value());
  CHECK_FALSE(parse_retry_after("", now).has_value());
}

TEST_CASE("Retry-After as an HTTP-date") {
  const auto now = system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now) == milliseconds(10000));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now) == milliseconds(0));
  CHECK_FALSE(parse_retry_after("someday", now).has_value());
}
