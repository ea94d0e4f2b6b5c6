// Watch streams as the API server sends them: JSON lines cut into chunks anywhere.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/operator/watch.hpp"

using namespace ckms::op;

namespace {
const std::string kStream =
    R"j({"type":"ADDED","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"worker-a1","resourceVersion":"101"}}})j"
    "\n"
    R"j({"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"105","annotations":{"k8s.io/initial-events-end":"true"}}}})j"
    "\r\n"
    R"j({"type":"DELETED","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"worker-a1","resourceVersion":"107"}}})j"
    "\n";
}

TEST_CASE("a watch stream gives the same lines however it is cut", "[operator][watch]") {
  for (std::size_t cut = 1; cut <= kStream.size(); ++cut) {
    LineBuffer buffer(1 << 20);
    std::vector<std::string> lines;
    for (std::size_t at = 0; at < kStream.size(); at += cut)
      buffer.feed(std::string_view(kStream).substr(at, cut), [&](std::string_view line) { lines.emplace_back(line); });
    REQUIRE(lines.size() == 3);
    CHECK(buffer.pending() == 0);
    CHECK(parse_watch_event(lines[0]).type == WatchEventType::added);
    CHECK(parse_watch_event(lines[1]).type == WatchEventType::bookmark);
    CHECK(parse_watch_event(lines[2]).object["metadata"]["resourceVersion"] == "107");
  }
}

TEST_CASE("a line that never ends is refused at the limit", "[operator][watch]") {
  LineBuffer buffer(64);
  const auto ignore = [](std::string_view) {};
  buffer.feed(std::string(60, 'x'), ignore);
  CHECK_THROWS_AS(buffer.feed(std::string(10, 'x'), ignore), ckms::Error);
}

TEST_CASE("watch events are checked", "[operator][watch]") {
  const auto error = parse_watch_event(
      R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 5 (48211)","reason":"Expired","code":410}})j");
  CHECK(error.type == WatchEventType::error);
  CHECK(error.object["code"] == 410);
  CHECK_THROWS_WITH(parse_watch_event("{\"type\":\"ADDED\""), Catch::Contains("not a watch event"));
  CHECK_THROWS_WITH(parse_watch_event(R"j({"type":"RENAMED","object":{"metadata":{"resourceVersion":"1"}}})j"),
                    Catch::Contains("unknown event type"));
  CHECK_THROWS_WITH(parse_watch_event(R"j({"type":"ADDED","object":{"metadata":{"name":"x"}}})j"),
                    Catch::Contains("resourceVersion"));
  CHECK(is_expired(ApiError(410, "Expired", "gone")));
  CHECK_FALSE(is_expired(ApiError(409, "Conflict", "conflict")));
}

TEST_CASE("object keys are namespace/name, or the name for cluster objects", "[operator][watch]") {
  CHECK(object_key({{"metadata", {{"name", "a"}, {"namespace", "ns"}}}}) == "ns/a");
  CHECK(object_key({{"metadata", {{"name", "worker-a1"}}}}) == "worker-a1");
}
