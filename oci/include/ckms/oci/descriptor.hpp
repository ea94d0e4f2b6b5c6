#pragma once
// Descriptors (image-spec descriptor.md): what every reference between blobs is made of.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/base/digest.hpp"

namespace ckms::oci {

using Annotations = std::map<std::string, std::string>;

struct Platform {
  std::string os = "linux";
  std::string architecture;
  std::string variant;
  std::string os_version;
  std::vector<std::string> os_features;

  friend bool operator==(const Platform&, const Platform&) = default;
};

struct Descriptor {
  std::string media_type;
  Digest digest;
  std::int64_t size = 0;
  Annotations annotations;
  std::optional<std::string> artifact_type;
  std::optional<Platform> platform;
  std::vector<std::string> urls;

  static Descriptor for_content(std::string media_type, std::string_view content);
  std::optional<std::string> annotation(std::string_view key) const;
  // "sha256:abcd… (application/…)" for messages.
  std::string describe() const;
};

// JSON <-> model. from_json validates: digest grammar, non-negative size, media type form.
void to_json(nlohmann::json& j, const Platform& p);
void from_json(const nlohmann::json& j, Platform& p);
void to_json(nlohmann::json& j, const Descriptor& d);
Descriptor descriptor_from_json(const nlohmann::json& j, std::string_view where);

// Media types are type/subtype per RFC 6838; anything else in a descriptor is refused.
bool is_valid_media_type(std::string_view type);

}  // namespace ckms::oci
