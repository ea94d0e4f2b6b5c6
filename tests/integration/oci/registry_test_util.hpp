#pragma once
// Content helpers shared by the registry integration tests.

#include <random>
#include <string>

#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::oci::test {

inline std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 engine(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(engine() & 0xff);
  return out;
}

inline Descriptor push_blob(Target& target, std::string_view media_type, const std::string& bytes) {
  const Descriptor d = Descriptor::for_content(std::string(media_type), bytes);
  push_bytes(target, d, bytes);
  return d;
}

struct PushedImage {
  Descriptor manifest;
  std::string manifest_bytes;
  Descriptor config;
  Descriptor layer;
  std::string layer_bytes;
};

// A small artifact: a config and one layer of `layer_size` random bytes.
inline PushedImage push_image(Target& target, std::size_t layer_size, unsigned seed,
                              std::optional<Descriptor> subject = std::nullopt,
                              std::string artifact_type = "application/vnd.example.test.v1") {
  std::string layer_bytes = random_bytes(layer_size, seed);
  const Descriptor layer = push_blob(target, media_type::kOciLayerTar, layer_bytes);
  const Descriptor config = push_blob(target, media_type::kOciConfig, "{\"seed\":" + std::to_string(seed) + "}");
  const ImageManifest manifest{std::string(media_type::kOciManifest), artifact_type, config, {layer}, subject, {}};
  std::string manifest_bytes = manifest.serialize();
  const Descriptor manifest_descriptor = Descriptor::for_content(manifest.media_type, manifest_bytes);
  push_bytes(target, manifest_descriptor, manifest_bytes);
  return PushedImage{manifest_descriptor, std::move(manifest_bytes), config, layer, std::move(layer_bytes)};
}

}  // namespace ckms::oci::test
