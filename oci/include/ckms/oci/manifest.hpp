#pragma once
// Image manifests and indexes (image-spec manifest.md, image-index.md) plus Docker schema 2,
// which shares their shape. Parsing validates; serialising is deterministic (sorted keys,
// no whitespace) so that the same model always gives the same digest. Copies never
// re-serialise: they move the original bytes, so digests are preserved.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/oci/descriptor.hpp"

namespace ckms::oci {

// Manifests, indexes and configs are small; anything larger is refused before parsing.
inline constexpr std::size_t kMaxManifestBytes = 4 << 20;

struct ImageManifest {
  std::string media_type{"application/vnd.oci.image.manifest.v1+json"};
  std::optional<std::string> artifact_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::optional<Descriptor> subject;
  Annotations annotations;

  static ImageManifest parse(std::string_view bytes, std::string_view where);
  std::string serialize() const;
  // Every descriptor this manifest references: config first, then layers.
  std::vector<Descriptor> children() const;
};

struct ImageIndex {
  std::string media_type{"application/vnd.oci.image.index.v1+json"};
  std::optional<std::string> artifact_type;
  std::vector<Descriptor> manifests;
  std::optional<Descriptor> subject;
  Annotations annotations;

  static ImageIndex parse(std::string_view bytes, std::string_view where);
  std::string serialize() const;
};

// The media type of manifest bytes: their own "mediaType" field, or, when absent (allowed by
// OCI), inferred from the presence of "manifests" or "layers".
std::string detect_manifest_media_type(std::string_view bytes, std::string_view where);

}  // namespace ckms::oci
