#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/base/time.hpp"
#include "require_error.hpp"

namespace {

// Sets SOURCE_DATE_EPOCH for one test and restores its absence.
struct SourceDateEpoch {
  explicit SourceDateEpoch(const char* value) { ::setenv("SOURCE_DATE_EPOCH", value, 1); }
  ~SourceDateEpoch() { ::unsetenv("SOURCE_DATE_EPOCH"); }
};

}  // namespace

TEST_CASE("rfc3339 writes UTC with whole seconds", "[time]") {
  CHECK(ckms::rfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(ckms::rfc3339(1700000000) == "2023-11-14T22:13:20Z");
  const std::string now = ckms::rfc3339_now();
  REQUIRE(now.size() == 20);
  CHECK(now[10] == 'T');
  CHECK(now.back() == 'Z');
}

TEST_CASE("SOURCE_DATE_EPOCH is a number of seconds and nothing else", "[time]") {
  ::unsetenv("SOURCE_DATE_EPOCH");
  CHECK_FALSE(ckms::source_date_epoch_from_environment().has_value());
  {
    SourceDateEpoch set("1700000000");
    CHECK(ckms::source_date_epoch_from_environment() == 1700000000);
  }
  // std::stoll, which the build's provenance time once used, reads "12abc" as 12.
  for (const char* bad : {"12abc", "-5", " 12", "0x10", "1e9"}) {
    SourceDateEpoch set(bad);
    ckms::testkit::require_error([] { ckms::source_date_epoch_from_environment(); }, ckms::ErrorKind::usage,
                                 "SOURCE_DATE_EPOCH");
  }
}
