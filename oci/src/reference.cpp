#include "ckms/oci/reference.hpp"

#include "ckms/base/error.hpp"

namespace ckms::oci {
namespace {

// The grammar of github.com/distribution/reference (regexp.go), matched by hand: std::regex
// compiles each pattern at run time, and that was most of the cost of `ckms load`.

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool all_of(std::string_view text, bool (*accepts)(char)) {
  for (char c : text) {
    if (!accepts(c)) return false;
  }
  return true;
}

// [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
bool is_path_component(std::string_view part) {
  std::size_t i = 0;
  while (true) {
    const std::size_t run = i;
    while (i < part.size() && is_lower_alnum(part[i])) ++i;
    if (i == run) return false;
    if (i == part.size()) return true;
    const std::size_t separator_start = i;
    while (i < part.size() && !is_lower_alnum(part[i])) ++i;
    const auto separator = part.substr(separator_start, i - separator_start);
    const bool dashes = separator.find_first_not_of('-') == std::string_view::npos;
    if (separator != "." && separator != "_" && separator != "__" && !dashes) return false;
  }
}

// (?::[0-9]+)?
bool is_optional_port(std::string_view rest) {
  return rest.empty() || (rest.size() > 1 && rest[0] == ':' && all_of(rest.substr(1), is_digit));
}

// [a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool is_host_label(std::string_view label) {
  if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
  return all_of(label, [](char c) { return is_alnum(c) || c == '-'; });
}

// label(\.label)*(:port)? or [ipv6](:port)?
bool is_domain(std::string_view host) {
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    return all_of(host.substr(1, close - 1), [](char c) { return is_hex(c) || c == ':'; }) &&
           is_optional_port(host.substr(close + 1));
  }
  const auto colon = host.find(':');
  if (colon != std::string_view::npos && !is_optional_port(host.substr(colon))) return false;
  auto name = host.substr(0, colon);
  while (true) {
    const auto dot = name.find('.');
    if (!is_host_label(name.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    name.remove_prefix(dot + 1);
  }
}

// A DNS name has at most 253 characters, ":65535" adds 6.
constexpr std::size_t kMaxHostLength = 253 + 6;

[[noreturn]] void bad(std::string_view text, std::string_view why) {
  fail(ErrorKind::usage, "invalid reference '{}': {}", text, why);
}

std::optional<Digest> take_digest(std::string& rest, std::string_view text) {
  const auto at = rest.find('@');
  if (at == std::string::npos) return std::nullopt;
  auto digest = Digest::try_parse(rest.substr(at + 1));
  if (!digest) bad(text, "the part after '@' is not a sha256 or sha512 digest");
  rest.resize(at);
  return digest;
}

}  // namespace

// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128 || !(is_alnum(tag[0]) || tag[0] == '_')) return false;
  return all_of(tag, [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool is_valid_repository(std::string_view repository) {
  if (repository.empty() || repository.size() > 255) return false;
  std::size_t start = 0;
  while (true) {
    const auto slash = repository.find('/', start);
    const auto part =
        repository.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!is_path_component(part)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

std::string selector_of(const Reference& reference) {
  if (auto digest = reference.digest()) return digest->str();
  if (auto tag = reference.tag()) return *tag;
  return reference.is_layout() ? "" : "latest";
}

std::string sanitize_tag(std::string_view text) {
  std::string out;
  for (char c : text) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    out.push_back(ok ? c : '_');
  }
  if (out.empty() || out[0] == '.' || out[0] == '-') out.insert(out.begin(), '_');
  if (out.size() > 128) out.resize(128);
  return out;
}

std::string RegistryReference::api_host() const { return registry == "docker.io" ? "registry-1.docker.io" : registry; }

std::string RegistryReference::manifest_reference() const {
  if (digest) return digest->str();
  return tag.value_or("latest");
}

std::string RegistryReference::str() const {
  std::string out = registry + "/" + repository;
  if (tag) out += ":" + *tag;
  if (digest) out += "@" + digest->str();
  return out;
}

std::string LayoutReference::str() const {
  std::string out = "oci:" + directory.string();
  if (tag) out += ":" + *tag;
  if (digest) out += "@" + digest->str();
  return out;
}

Reference Reference::parse(std::string_view text) {
  if (text.empty()) bad(text, "empty");
  if (text.starts_with("oci:")) {
    std::string rest(text.substr(4));
    LayoutReference ref;
    ref.digest = take_digest(rest, text);
    const auto colon = rest.find(':');
    if (colon != std::string::npos) {
      ref.tag = rest.substr(colon + 1);
      rest.resize(colon);
      if (!is_valid_tag(*ref.tag)) bad(text, "the tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    }
    if (rest.empty()) bad(text, "oci: needs a directory, as in oci:DIR[:TAG]");
    ref.directory = rest;
    return Reference(std::move(ref));
  }
  std::string rest(text.starts_with("docker://") ? text.substr(9) : text);
  RegistryReference ref;
  ref.digest = take_digest(rest, text);
  // A ':' after the last '/' starts the tag; one before it belongs to host:port.
  const auto last_slash = rest.rfind('/');
  const auto colon = rest.find(':', last_slash == std::string::npos ? 0 : last_slash);
  if (colon != std::string::npos) {
    ref.tag = rest.substr(colon + 1);
    rest.resize(colon);
    if (!is_valid_tag(*ref.tag)) bad(text, "the tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  }
  const auto first_slash = rest.find('/');
  const std::string first = rest.substr(0, first_slash);
  const bool has_domain =
      first_slash != std::string::npos && (first.find_first_of(".:") != std::string::npos || first == "localhost" ||
                                           first.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos);
  if (has_domain) {
    if (first.size() > kMaxHostLength) bad(text, "the registry host is longer than a DNS name and port");
    if (!is_domain(first)) bad(text, "the registry host is not a valid host[:port]");
    ref.registry = first;
    ref.repository = rest.substr(first_slash + 1);
  } else {
    ref.registry = "docker.io";
    ref.repository = rest.find('/') == std::string::npos ? "library/" + rest : rest;
  }
  if (!is_valid_repository(ref.repository)) {
    bad(text, "the repository must be lowercase path components ([a-z0-9] with . _ __ - between)");
  }
  return Reference(std::move(ref));
}

const RegistryReference& Reference::registry() const {
  if (const auto* r = std::get_if<RegistryReference>(&value_)) return *r;
  fail(ErrorKind::usage, "'{}' is an OCI layout, a registry reference is needed here", str());
}

const LayoutReference& Reference::layout() const {
  if (const auto* r = std::get_if<LayoutReference>(&value_)) return *r;
  fail(ErrorKind::usage, "'{}' is a registry reference, an OCI layout (oci:DIR) is needed here", str());
}

std::optional<std::string> Reference::tag() const {
  return std::visit([](const auto& r) { return r.tag; }, value_);
}

std::optional<Digest> Reference::digest() const {
  return std::visit([](const auto& r) { return r.digest; }, value_);
}

std::string Reference::str() const {
  return std::visit([](const auto& r) { return r.str(); }, value_);
}

Reference Reference::with_tag(std::string tag) const {
  if (!is_valid_tag(tag)) fail(ErrorKind::usage, "invalid tag '{}'", tag);
  auto copy = value_;
  std::visit(
      [&](auto& r) {
        r.tag = tag;
        r.digest.reset();
      },
      copy);
  return Reference(std::move(copy));
}

Reference Reference::with_digest(Digest digest) const {
  auto copy = value_;
  std::visit([&](auto& r) { r.digest = digest; }, copy);
  return Reference(std::move(copy));
}

}  // namespace ckms::oci
