#include "ckms/oci/manifest.hpp"

#include "ckms/base/error.hpp"
#include "ckms/oci/media_types.hpp"

namespace ckms::oci {
namespace {

nlohmann::json parse_object(std::string_view bytes, std::string_view where) {
  if (bytes.size() > kMaxManifestBytes) {
    fail(ErrorKind::refused, "{}: {} bytes is more than the {} a manifest may have", where, bytes.size(),
         kMaxManifestBytes);
  }
  nlohmann::json j = nlohmann::json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    fail(ErrorKind::integrity, "{}: not a JSON object", where);
  }
  return j;
}

void check_schema_version(const nlohmann::json& j, std::string_view where) {
  const auto it = j.find("schemaVersion");
  if (it == j.end() || !it->is_number_integer() || it->get<int>() != 2) {
    fail(ErrorKind::integrity, "{}: schemaVersion must be 2", where);
  }
}

std::optional<std::string> optional_string(const nlohmann::json& j, const char* name, std::string_view where) {
  const auto it = j.find(name);
  if (it == j.end()) return std::nullopt;
  if (!it->is_string()) fail(ErrorKind::integrity, "{}: '{}' must be a string", where, name);
  return it->get<std::string>();
}

Annotations annotations_of(const nlohmann::json& j, std::string_view where) {
  const auto it = j.find("annotations");
  if (it == j.end()) return {};
  if (!it->is_object()) fail(ErrorKind::integrity, "{}: annotations must be an object", where);
  Annotations out;
  for (const auto& [key, value] : it->items()) {
    if (!value.is_string()) fail(ErrorKind::integrity, "{}: annotation '{}' must be a string", where, key);
    out[key] = value.get<std::string>();
  }
  return out;
}

std::vector<Descriptor> descriptor_list(const nlohmann::json& j, const char* name, std::string_view where,
                                        bool required) {
  const auto it = j.find(name);
  if (it == j.end()) {
    if (required) fail(ErrorKind::integrity, "{}: '{}' is missing", where, name);
    return {};
  }
  if (!it->is_array()) fail(ErrorKind::integrity, "{}: '{}' must be an array", where, name);
  std::vector<Descriptor> out;
  out.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    out.push_back(descriptor_from_json((*it)[i], fmt::format("{} {}[{}]", where, name, i)));
  }
  return out;
}

// The manifest or index that this one refers to (image-spec's referrers), when it names one.
std::optional<Descriptor> subject_of(const nlohmann::json& j, std::string_view where) {
  const auto it = j.find("subject");
  if (it == j.end()) return std::nullopt;
  return descriptor_from_json(*it, fmt::format("{} subject", where));
}

void put_common(nlohmann::json& j, const std::string& media_type, const std::optional<std::string>& artifact_type,
                const std::optional<Descriptor>& subject, const Annotations& annotations) {
  j["schemaVersion"] = 2;
  j["mediaType"] = media_type;
  if (artifact_type) j["artifactType"] = *artifact_type;
  if (subject) j["subject"] = *subject;
  if (!annotations.empty()) j["annotations"] = annotations;
}

}  // namespace

ImageManifest ImageManifest::parse(std::string_view bytes, std::string_view where) {
  const nlohmann::json j = parse_object(bytes, where);
  check_schema_version(j, where);
  const auto config = j.find("config");
  if (config == j.end()) fail(ErrorKind::integrity, "{}: 'config' is missing", where);
  ImageManifest m{
      .media_type = optional_string(j, "mediaType", where).value_or(std::string(media_type::kOciManifest)),
      .artifact_type = optional_string(j, "artifactType", where),
      .config = descriptor_from_json(*config, fmt::format("{} config", where)),
      .layers = descriptor_list(j, "layers", where, true),
  };
  if (!media_type::is_manifest(m.media_type)) {
    fail(ErrorKind::integrity, "{}: media type '{}' is not an image manifest", where, m.media_type);
  }
  m.subject = subject_of(j, where);
  m.annotations = annotations_of(j, where);
  return m;
}

std::string ImageManifest::serialize() const {
  nlohmann::json j;
  put_common(j, media_type, artifact_type, subject, annotations);
  j["config"] = config;
  j["layers"] = layers;
  return j.dump();
}

std::vector<Descriptor> ImageManifest::children() const {
  std::vector<Descriptor> out{config};
  out.insert(out.end(), layers.begin(), layers.end());
  return out;
}

ImageIndex ImageIndex::parse(std::string_view bytes, std::string_view where) {
  const nlohmann::json j = parse_object(bytes, where);
  check_schema_version(j, where);
  ImageIndex index;
  index.media_type = optional_string(j, "mediaType", where).value_or(std::string(media_type::kOciIndex));
  if (!media_type::is_index(index.media_type)) {
    fail(ErrorKind::integrity, "{}: media type '{}' is not an image index", where, index.media_type);
  }
  index.artifact_type = optional_string(j, "artifactType", where);
  index.manifests = descriptor_list(j, "manifests", where, true);
  index.subject = subject_of(j, where);
  index.annotations = annotations_of(j, where);
  return index;
}

std::string ImageIndex::serialize() const {
  nlohmann::json j;
  put_common(j, media_type, artifact_type, subject, annotations);
  j["manifests"] = manifests;
  return j.dump();
}

std::string detect_manifest_media_type(std::string_view bytes, std::string_view where) {
  const nlohmann::json j = parse_object(bytes, where);
  if (auto type = optional_string(j, "mediaType", where)) return *type;
  if (j.contains("manifests")) return std::string(media_type::kOciIndex);
  if (j.contains("layers") || j.contains("config")) return std::string(media_type::kOciManifest);
  fail(ErrorKind::integrity, "{}: neither a manifest nor an index", where);
}

}  // namespace ckms::oci
