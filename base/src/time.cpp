#include "ckms/base/time.hpp"

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string_view>

#include "ckms/base/error.hpp"

namespace ckms {

std::string rfc3339(std::int64_t seconds_since_epoch) {
  const auto t = static_cast<std::time_t>(seconds_since_epoch);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string rfc3339_now() { return rfc3339(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())); }

std::optional<std::int64_t> source_date_epoch_from_environment() {
  const char* text = std::getenv("SOURCE_DATE_EPOCH");
  if (text == nullptr || *text == '\0') return std::nullopt;
  std::int64_t value = 0;
  const std::string_view view(text);
  const auto [end, error] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (error != std::errc() || end != view.data() + view.size() || value < 0) {
    fail(ErrorKind::usage, "SOURCE_DATE_EPOCH '{}' is not a number of seconds", view);
  }
  return value;
}

}  // namespace ckms
