// publish_module: layers, then config, then manifest, then the per-kernel tag. A reader
// that sees the tag sees a complete artifact, because a registry (and oci::Layout) accepts
// a manifest only when everything it references is stored.

#include <filesystem>

#include "ckms/artifact/names.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/reference.hpp"
#include "module_internal.hpp"

namespace ckms::artifact {
namespace fs = std::filesystem;

namespace {

oci::Descriptor push_symvers(oci::Target& target, ModuleConfig& config, const fs::path& file) {
  config.symvers =
      SymversFile{.digest = ckms::digest_of_file(file), .size = static_cast<std::int64_t>(fs::file_size(file))};
  oci::Descriptor layer{.media_type = std::string(kSymversLayerMediaType),
                        .digest = config.symvers->digest,
                        .size = config.symvers->size,
                        .annotations = {{std::string(oci::annotation::kTitle), std::string(kSymversFileName)}}};
  oci::push_file(target, layer, file);
  return layer;
}

}  // namespace

PublishedModule publish_module(oci::Target& target, BuiltModuleSet built) {
  ModuleConfig& config = built.config;
  const std::string where = fmt::format("module {} {} for {}", config.name, config.version, config.kernel_release);
  // Names first: a file name must not reach the file system before it has been checked.
  detail::validate(config, ErrorKind::usage, where);
  if (config.version.size() + 1 + config.kernel_release.size() > 128) {
    fail(ErrorKind::usage, "{}: '{}-{}' is longer than the 128 characters a tag can hold", where, config.version,
         config.kernel_release);
  }
  const std::string tag = kernel_tag(config.version, config.kernel_release);

  std::vector<oci::Descriptor> layers;
  for (auto& file : config.files) {
    const fs::path path = built.files_dir / file.file_name;
    // Hashed before the push because a push names its digest up front; the target verifies
    // the bytes as they arrive, so a file that changes in between is refused, not published.
    file.digest = ckms::digest_of_file(path);
    file.size = static_cast<std::int64_t>(fs::file_size(path));
    oci::Descriptor layer{.media_type = std::string(kModuleLayerMediaType),
                          .digest = file.digest,
                          .size = file.size,
                          .annotations = {{std::string(oci::annotation::kTitle), file.file_name}}};
    // push_file mounts the file from another repository of the registry that this process
    // saw holding it, and sends nothing when the target has it.
    oci::push_file(target, layer, path);
    layers.push_back(std::move(layer));
  }

  if (!built.symvers_file.empty()) layers.push_back(push_symvers(target, config, built.symvers_file));

  // The config now holds every file's digest and size.
  const std::string config_bytes = config.serialize();
  oci::ImageManifest manifest{.artifact_type = std::string(kModuleArtifactType),
                              .config = oci::Descriptor::for_content(std::string(kModuleConfigMediaType), config_bytes),
                              .layers = std::move(layers)};
  oci::push_bytes(target, manifest.config, config_bytes);

  manifest.annotations[std::string(kKernelReleaseAnnotation)] = config.kernel_release;
  if (!built.cache_key.empty()) manifest.annotations[std::string(kCacheKeyAnnotation)] = built.cache_key;
  if (!config.provenance.created.empty()) {
    manifest.annotations[std::string(oci::annotation::kCreated)] = config.provenance.created;
  }
  const std::string manifest_bytes = manifest.serialize();
  const auto descriptor = oci::Descriptor::for_content(std::string(oci::media_type::kOciManifest), manifest_bytes);
  oci::push_bytes(target, descriptor, manifest_bytes);
  target.tag(descriptor, tag);
  return PublishedModule{.manifest = descriptor, .tag = tag};
}

}  // namespace ckms::artifact
