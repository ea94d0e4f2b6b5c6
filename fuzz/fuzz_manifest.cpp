// Manifests, indexes and image configs come from registries and OCI layouts. Parsing either yields a model
// or a ckms::Error; serialising a parsed model is deterministic, so parse(serialize(m))
// serialises to the same bytes (digests of re-serialised manifests must not drift).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ckms/base/error.hpp"
#include "ckms/oci/image_config.hpp"
#include "ckms/oci/manifest.hpp"

namespace {

template <typename Model>
void round_trip(std::string_view bytes) {
  try {
    const std::string once = Model::parse(bytes, "fuzz").serialize();
    if (Model::parse(once, "fuzz").serialize() != once) std::abort();
  } catch (const ckms::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    (void)ckms::oci::detect_manifest_media_type(bytes, "fuzz");
  } catch (const ckms::Error&) {
  }
  round_trip<ckms::oci::ImageManifest>(bytes);
  round_trip<ckms::oci::ImageIndex>(bytes);
  round_trip<ckms::oci::ImageConfig>(bytes);
  return 0;
}
