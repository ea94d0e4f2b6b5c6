#pragma once
// References, parsed once (distribution/reference grammar plus skopeo's `oci:DIR[:TAG]`).
// After parsing, code never looks at the string again: a RegistryReference knows its host,
// repository, tag and digest; a LayoutReference its directory and tag.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "ckms/base/digest.hpp"

namespace ckms::oci {

struct RegistryReference {
  std::string registry;    // host[:port] as written; "docker.io" when none was given
  std::string repository;  // path components, e.g. "library/debian" or "ckms/hello"
  std::optional<std::string> tag;
  std::optional<Digest> digest;

  // The host to talk to (docker.io's API lives on registry-1.docker.io).
  std::string api_host() const;
  // What a manifest request names: the digest when there is one, else the tag, else "latest".
  std::string manifest_reference() const;
  std::string repository_str() const { return registry + "/" + repository; }
  std::string str() const;
};

struct LayoutReference {
  std::filesystem::path directory;
  std::optional<std::string> tag;
  std::optional<Digest> digest;
  std::string str() const;
};

class Reference {
 public:
  // Accepts `[docker://]host[:port]/repo[:tag][@digest]`, `repo[:tag]` (docker.io), and
  // `oci:DIR[:TAG]` / `oci:DIR@DIGEST`. Throws a usage error that names the text and says
  // which part is wrong.
  static Reference parse(std::string_view text);

  bool is_layout() const { return std::holds_alternative<LayoutReference>(value_); }
  const RegistryReference& registry() const;
  const LayoutReference& layout() const;
  std::optional<std::string> tag() const;
  std::optional<Digest> digest() const;
  std::string str() const;

  Reference with_tag(std::string tag) const;
  Reference with_digest(Digest digest) const;

 private:
  explicit Reference(std::variant<RegistryReference, LayoutReference> value) : value_(std::move(value)) {}
  std::variant<RegistryReference, LayoutReference> value_;
};

bool is_valid_tag(std::string_view tag);
bool is_valid_repository(std::string_view repository);
// Turns any text (e.g. a kernel release "6.1.0-56-cloud-amd64+x") into a valid tag by
// replacing characters a tag cannot hold with '_' (the design's rule for kernel releases).
std::string sanitize_tag(std::string_view text);

// What a Target resolves for `reference`: its digest, else its tag, else "latest" for a
// registry and "" (the layout's one image) for a layout.
std::string selector_of(const Reference& reference);

}  // namespace ckms::oci
