#include "ckms/oci/http_headers.hpp"

#include <curl/curl.h>

#include <cctype>
#include <charconv>

namespace ckms::oci {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Whether a link's parameters (`; rel="next"; type=...`) carry rel=next. rel may list
// several space-separated relation types.
bool has_rel_next(std::string_view params) {
  while (!params.empty()) {
    const auto semicolon = params.find(';');
    std::string_view param = trim(params.substr(0, semicolon));
    params = semicolon == std::string_view::npos ? std::string_view{} : params.substr(semicolon + 1);
    const auto eq = param.find('=');
    if (eq == std::string_view::npos || !iequals(trim(param.substr(0, eq)), "rel")) continue;
    std::string_view value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    while (!value.empty()) {
      const auto space = value.find(' ');
      if (iequals(value.substr(0, space), "next")) return true;
      value = space == std::string_view::npos ? std::string_view{} : trim(value.substr(space));
    }
  }
  return false;
}

}  // namespace

std::optional<std::string> parse_link_next(std::string_view link) {
  // link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param ), values comma-separated;
  // a comma inside <...> or a quoted parameter does not separate values.
  std::size_t i = 0;
  while (i < link.size()) {
    const auto open = link.find('<', i);
    if (open == std::string_view::npos) return std::nullopt;
    const auto close = link.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view target = link.substr(open + 1, close - open - 1);
    std::size_t end = close + 1;
    bool quoted = false;
    while (end < link.size() && (quoted || link[end] != ',')) {
      if (link[end] == '"') quoted = !quoted;
      if (quoted && link[end] == '\\') ++end;
      ++end;
    }
    if (has_rel_next(link.substr(close + 1, end - close - 1))) return std::string(target);
    i = end + 1;
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(value.front()))) {
    long long seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc{} || end != value.data() + value.size()) return std::nullopt;
    return std::chrono::seconds(seconds);
  }
  const std::string text(value);
  const time_t when = curl_getdate(text.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  const auto delta = std::chrono::system_clock::from_time_t(when) - now;
  if (delta <= std::chrono::system_clock::duration::zero()) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(delta);
}

}  // namespace ckms::oci
