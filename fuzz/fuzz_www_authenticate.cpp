// WWW-Authenticate headers come from any registry the user points ckms at. The parser never
// throws (malformed trailing parts are dropped) and what it returns is normalised: schemes
// and parameter names are lower-case and non-empty.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ckms/oci/auth_challenge.hpp"

namespace {

bool lower_case_token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (std::isupper(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  for (const auto& challenge : ckms::oci::parse_www_authenticate(header)) {
    if (!lower_case_token(challenge.scheme)) std::abort();
    for (const auto& [name, value] : challenge.params) {
      if (!lower_case_token(name)) std::abort();
      if (challenge.param(name) != value) std::abort();
    }
  }
  return 0;
}
