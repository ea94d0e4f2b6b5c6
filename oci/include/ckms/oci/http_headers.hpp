#pragma once
// Header values the registry client interprets: Link (tag and referrer pagination) and
// Retry-After (429/503 pacing). Pure functions, so they are tested without a server.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ckms::oci {

// The target of the `rel="next"` link in an RFC 8288 Link header, as written (possibly
// relative); nullopt when there is none.
std::optional<std::string> parse_link_next(std::string_view link);

// Retry-After as delta-seconds or an HTTP-date, relative to `now`; never negative.
// nullopt when the value is neither.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

}  // namespace ckms::oci
