#include "ckms/oci/descriptor.hpp"

#include "ckms/base/error.hpp"

namespace ckms::oci {

namespace {

// [A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}, RFC 6838's restricted-name, matched by hand:
// a std::regex compiled at run time cost more than the rest of reading a manifest.
bool is_restricted_name(std::string_view name) {
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 127 || !alnum(name[0])) return false;
  for (char c : name) {
    if (!alnum(c) && std::string_view("!#$&^_.+-").find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

bool is_valid_media_type(std::string_view type) {
  const auto slash = type.find('/');
  return slash != std::string_view::npos && is_restricted_name(type.substr(0, slash)) &&
         is_restricted_name(type.substr(slash + 1));
}

Descriptor Descriptor::for_content(std::string media_type, std::string_view content) {
  return Descriptor{.media_type = std::move(media_type),
                    .digest = digest_of(content),
                    .size = static_cast<std::int64_t>(content.size())};
}

std::optional<std::string> Descriptor::annotation(std::string_view key) const {
  const auto it = annotations.find(std::string(key));
  if (it == annotations.end()) return std::nullopt;
  return it->second;
}

std::string Descriptor::describe() const { return fmt::format("{} ({}, {} bytes)", digest.str(), media_type, size); }

void to_json(nlohmann::json& j, const Platform& p) {
  j = {{"os", p.os}, {"architecture", p.architecture}};
  if (!p.variant.empty()) j["variant"] = p.variant;
  if (!p.os_version.empty()) j["os.version"] = p.os_version;
  if (!p.os_features.empty()) j["os.features"] = p.os_features;
}

void from_json(const nlohmann::json& j, Platform& p) {
  p.os = j.value("os", "");
  p.architecture = j.value("architecture", "");
  p.variant = j.value("variant", "");
  p.os_version = j.value("os.version", "");
  p.os_features = j.value("os.features", std::vector<std::string>{});
}

void to_json(nlohmann::json& j, const Descriptor& d) {
  j = {{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.artifact_type) j["artifactType"] = *d.artifact_type;
  if (d.platform) j["platform"] = *d.platform;
  if (!d.urls.empty()) j["urls"] = d.urls;
}

Descriptor descriptor_from_json(const nlohmann::json& j, std::string_view where) {
  if (!j.is_object()) fail(ErrorKind::integrity, "{}: a descriptor must be a JSON object", where);
  const auto string_field = [&](const char* name) -> std::string {
    const auto it = j.find(name);
    if (it == j.end() || !it->is_string()) {
      fail(ErrorKind::integrity, "{}: descriptor field '{}' is missing or not a string", where, name);
    }
    return it->get<std::string>();
  };
  Descriptor d{.media_type = string_field("mediaType"), .digest = [&] {
                 const std::string text = string_field("digest");
                 auto parsed = Digest::try_parse(text);
                 if (!parsed) fail(ErrorKind::integrity, "{}: descriptor digest '{}' is invalid", where, text);
                 return *parsed;
               }()};
  if (!is_valid_media_type(d.media_type)) {
    fail(ErrorKind::integrity, "{}: descriptor media type '{}' is invalid", where, d.media_type);
  }
  const auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() || size->get<std::int64_t>() < 0) {
    fail(ErrorKind::integrity, "{}: descriptor {} has no valid size", where, d.digest.str());
  }
  d.size = size->get<std::int64_t>();
  try {
    if (auto it = j.find("annotations"); it != j.end()) d.annotations = it->get<Annotations>();
    if (auto it = j.find("artifactType"); it != j.end()) d.artifact_type = it->get<std::string>();
    if (auto it = j.find("platform"); it != j.end()) d.platform = it->get<Platform>();
    if (auto it = j.find("urls"); it != j.end()) d.urls = it->get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::integrity, "{}: descriptor {}: {}", where, d.digest.str(), e.what());
  }
  return d;
}

}  // namespace ckms::oci
