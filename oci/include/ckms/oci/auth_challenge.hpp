#pragma once
// WWW-Authenticate (RFC 7235): one header may hold several challenges, each a scheme with
// either a token68 or comma-separated parameters whose values may be quoted strings with
// backslash escapes, e.g.
//   Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckms::oci {

struct AuthChallenge {
  std::string scheme;                         // lower-case: "basic", "bearer", ...
  std::map<std::string, std::string> params;  // lower-case names, unquoted values
  std::string token68;

  std::optional<std::string> param(std::string_view name) const;
};

// Malformed trailing parts are dropped rather than failing: whatever was understood before
// them is still usable, and an unusable challenge is reported where it is used.
std::vector<AuthChallenge> parse_www_authenticate(std::string_view header);

}  // namespace ckms::oci
