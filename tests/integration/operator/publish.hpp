#pragma once
// Puts the per-kernel tag of a module artifact into a registry: what `ckms build` leaves
// behind (the operator only asks whether the tag resolves).

#include <string>

#include <nlohmann/json.hpp>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "registry_fixture.hpp"

namespace ckms::op::test {

// `repository` is the path inside the registry ("ckms/ckms-hello").
inline void publish_kernel_tag(testkit::RegistryFixture& registry, const std::string& repository,
                               const std::string& version, const std::string& release) {
  oci::RegistryRepository repo(registry.reference(repository), registry.options());
  const std::string name = repository.substr(repository.rfind('/') + 1);
  const std::string config = nlohmann::json{{"name", name}, {"version", version}, {"kernel_release", release}}.dump();
  const auto config_descriptor = oci::Descriptor::for_content(std::string(artifact::kModuleConfigMediaType), config);
  oci::push_bytes(repo, config_descriptor, config);
  const oci::ImageManifest manifest{std::string(oci::media_type::kOciManifest),
                                    std::string(artifact::kModuleArtifactType),
                                    config_descriptor,
                                    {},
                                    std::nullopt,
                                    {}};
  const std::string bytes = manifest.serialize();
  const auto descriptor = oci::Descriptor::for_content(manifest.media_type, bytes);
  oci::push_bytes(repo, descriptor, bytes);
  repo.tag(descriptor, artifact::kernel_tag(version, release));
}

}  // namespace ckms::op::test
