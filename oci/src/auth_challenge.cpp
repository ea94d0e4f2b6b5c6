#include "ckms/oci/auth_challenge.hpp"

#include <algorithm>
#include <cctype>

namespace ckms::oci {
namespace {

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token68_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-._~+/").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  std::vector<AuthChallenge> parse() {
    std::vector<AuthChallenge> out;
    skip_separators();
    while (!at_end()) {
      const std::string_view scheme = token();
      if (scheme.empty()) break;  // garbage: keep what we have
      AuthChallenge challenge{lower(scheme), {}, {}};
      skip_space();
      if (!parse_token68(challenge)) parse_params(challenge);
      out.push_back(std::move(challenge));
      skip_separators();
    }
    return out;
  }

 private:
  bool at_end() const { return i_ >= s_.size(); }
  char peek(std::size_t ahead = 0) const { return i_ + ahead < s_.size() ? s_[i_ + ahead] : '\0'; }
  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t')) ++i_;
  }
  void skip_separators() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == ',')) ++i_;
  }
  std::string_view token() {
    const std::size_t start = i_;
    while (!at_end() && is_tchar(peek())) ++i_;
    return s_.substr(start, i_ - start);
  }

  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", standing alone
  // (a following "=" then a value would make it a parameter name instead).
  bool parse_token68(AuthChallenge& challenge) {
    std::size_t j = i_;
    while (j < s_.size() && is_token68_char(s_[j])) ++j;
    if (j == i_) return false;
    std::size_t k = j;
    while (k < s_.size() && s_[k] == '=') ++k;
    std::size_t after = k;
    while (after < s_.size() && (s_[after] == ' ' || s_[after] == '\t')) ++after;
    const bool alone = after == s_.size() || s_[after] == ',';
    if (!alone) return false;  // "name=value": parameters, not a token68
    challenge.token68 = std::string(s_.substr(i_, k - i_));
    i_ = k;
    return true;
  }

  // Whether position p starts `name =` (a parameter) rather than a new scheme.
  bool looks_like_param(std::size_t p) const {
    while (p < s_.size() && (s_[p] == ' ' || s_[p] == '\t')) ++p;
    const std::size_t start = p;
    while (p < s_.size() && is_tchar(s_[p])) ++p;
    if (p == start) return false;
    while (p < s_.size() && (s_[p] == ' ' || s_[p] == '\t')) ++p;
    return p < s_.size() && s_[p] == '=';
  }

  void parse_params(AuthChallenge& challenge) {
    while (looks_like_param(i_)) {
      skip_space();
      const std::string name = lower(token());
      skip_space();
      ++i_;  // '='
      skip_space();
      std::string value;
      if (peek() == '"') {
        ++i_;
        while (!at_end() && peek() != '"') {
          if (peek() == '\\' && i_ + 1 < s_.size()) ++i_;
          value += s_[i_++];
        }
        ++i_;  // closing quote (or past the end when unterminated)
      } else {
        value = std::string(token());
      }
      challenge.params.emplace(name, std::move(value));
      skip_space();
      // A comma either separates parameters or ends this challenge; looks_like_param decides.
      std::size_t p = i_;
      while (p < s_.size() && (s_[p] == ',' || s_[p] == ' ' || s_[p] == '\t')) ++p;
      if (p == i_ && !at_end()) return;  // junk after a value: stop here
      if (!looks_like_param(p)) return;
      i_ = p;
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

std::optional<std::string> AuthChallenge::param(std::string_view name) const {
  const auto it = params.find(lower(name));
  if (it == params.end()) return std::nullopt;
  return it->second;
}

std::vector<AuthChallenge> parse_www_authenticate(std::string_view header) { return Parser(header).parse(); }

}  // namespace ckms::oci
