// Naming (tags, platform architecture) and reading one module artifact back.

#include <map>

#include "ckms/base/digest.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/reference.hpp"
#include "module_internal.hpp"

namespace ckms::artifact {
namespace {
constexpr std::size_t kMaxTagLength = 128;  // OCI distribution-spec tag grammar
}  // namespace

std::string oci_architecture(std::string_view kernel_arch) {
  // uname -m names on the left, GOARCH (what OCI platforms use) on the right.
  static const std::map<std::string_view, std::string_view> table{
      {"x86_64", "amd64"},        {"aarch64", "arm64"},   {"i386", "386"},    {"i686", "386"},
      {"armv7l", "arm"},          {"ppc64le", "ppc64le"}, {"s390x", "s390x"}, {"riscv64", "riscv64"},
      {"loongarch64", "loong64"}, {"mips64", "mips64"}};
  const auto it = table.find(kernel_arch);
  return std::string(it == table.end() ? kernel_arch : it->second);
}

std::string kernel_tag(std::string_view version, std::string_view kernel_release) {
  const std::string text = fmt::format("{}-{}", version, kernel_release);
  std::string tag = oci::sanitize_tag(text);
  // A tag holds 128 characters. Cut there, two releases that differ only further on would
  // share a tag and an unbuilt kernel would pass for published, so a tag that must be
  // shortened ends in a digest of the whole text instead. Tags that fit are unchanged.
  const bool prefixed = text.front() == '.' || text.front() == '-';  // sanitize_tag adds a '_'
  if (text.size() + (prefixed ? 1 : 0) <= kMaxTagLength) return tag;
  constexpr std::size_t kDigestDigits = 16;
  tag.resize(kMaxTagLength - kDigestDigits - 1);
  return fmt::format("{}-{}", tag, ckms::digest_of(text).hex().substr(0, kDigestDigits));
}

namespace {

// The one layer titled `title`; refused when there is not exactly one, or it differs from
// what the config says of it.
void check_layer(const oci::ImageManifest& manifest, const std::string& title, const ckms::Digest& digest,
                 std::int64_t size, std::string_view media_type, std::string_view where) {
  int matches = 0;
  for (const auto& layer : manifest.layers) {
    if (layer.annotation(oci::annotation::kTitle) != title) continue;
    ++matches;
    if (layer.digest != digest || layer.size != size || layer.media_type != media_type) {
      fail(ErrorKind::integrity, "{}: layer '{}' is {} ({} bytes, {}) but the config says {} ({} bytes, {})", where,
           title, layer.digest.str(), layer.size, layer.media_type, digest.str(), size, media_type);
    }
  }
  if (matches != 1) {
    fail(ErrorKind::integrity, "{}: file '{}' has {} layers titled so; it must have exactly one", where, title,
         matches);
  }
}

// Every file exactly one module layer, the Module.symvers (when the config has one) exactly
// one symvers layer, and nothing else.
void check_layers(const oci::ImageManifest& manifest, const ModuleConfig& config, std::string_view where) {
  const std::size_t expected = config.files.size() + (config.symvers ? 1 : 0);
  if (manifest.layers.size() != expected) {
    fail(ErrorKind::integrity, "{}: the manifest has {} layers for the config's {} files", where,
         manifest.layers.size(), expected);
  }
  for (const auto& layer : manifest.layers) {
    if (layer.media_type != kModuleLayerMediaType && layer.media_type != kSymversLayerMediaType) {
      fail(ErrorKind::integrity, "{}: layer {} has media type {}, not {}", where, layer.digest.str(), layer.media_type,
           kModuleLayerMediaType);
    }
  }
  for (const auto& file : config.files) {
    check_layer(manifest, file.file_name, file.digest, file.size, kModuleLayerMediaType, where);
  }
  if (config.symvers) {
    check_layer(manifest, std::string(kSymversFileName), config.symvers->digest, config.symvers->size,
                kSymversLayerMediaType, where);
  }
}

}  // namespace

namespace detail {

std::optional<oci::Descriptor> try_resolve(oci::Target& target, std::string_view tag) {
  try {
    return target.resolve(tag);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    return std::nullopt;
  }
}

bool is_module_manifest(const oci::ImageManifest& manifest) {
  return manifest.artifact_type == kModuleArtifactType && manifest.config.media_type == kModuleConfigMediaType;
}

ResolvedModule load_module(oci::Target& target, const oci::Descriptor& descriptor, std::string_view where) {
  if (!oci::media_type::is_manifest(descriptor.media_type)) {
    fail(ErrorKind::integrity, "{}: {} is a {}, not a module artifact manifest", where, descriptor.digest.str(),
         descriptor.media_type);
  }
  return load_module(target, descriptor, oci::ImageManifest::parse(oci::fetch_bytes(target, descriptor), where), where);
}

ResolvedModule load_module(oci::Target& target, const oci::Descriptor& descriptor, oci::ImageManifest manifest,
                           std::string_view where) {
  if (!is_module_manifest(manifest)) {
    fail(ErrorKind::integrity, "{}: {} is not a module artifact (artifactType '{}', config {})", where,
         descriptor.digest.str(), manifest.artifact_type.value_or(""), manifest.config.media_type);
  }
  const std::string config_where = fmt::format("{} config {}", where, manifest.config.digest.str());
  auto config = ModuleConfig::parse(oci::fetch_bytes(target, manifest.config), config_where);

  check_layers(manifest, config, where);
  if (const auto release = manifest.annotations.find(std::string(kKernelReleaseAnnotation));
      release != manifest.annotations.end() && release->second != config.kernel_release) {
    fail(ErrorKind::integrity, "{}: the manifest says kernel {} but its config says {}", where, release->second,
         config.kernel_release);
  }

  std::optional<std::string> cache_key;
  if (auto key = manifest.annotations.find(std::string(kCacheKeyAnnotation)); key != manifest.annotations.end()) {
    cache_key = key->second;
  }
  oci::Descriptor manifest_descriptor{
      .media_type = descriptor.media_type, .digest = descriptor.digest, .size = descriptor.size};
  return ResolvedModule{.manifest_descriptor = std::move(manifest_descriptor),
                        .manifest = std::move(manifest),
                        .config = std::move(config),
                        .cache_key = std::move(cache_key)};
}

}  // namespace detail

void fetch_symvers(oci::Target& target, const ResolvedModule& module, const std::filesystem::path& destination) {
  const auto& config = module.config;
  if (!config.symvers) {
    fail(ErrorKind::not_found,
         "{} {} for kernel {} ({} {}) carries no {}: it was published by a ckms that did not keep it; build it "
         "again",
         config.name, config.version, config.kernel_release, target.describe(), module.manifest_descriptor.digest.str(),
         kSymversFileName);
  }
  const oci::Descriptor layer{.media_type = std::string(kSymversLayerMediaType),
                              .digest = config.symvers->digest,
                              .size = config.symvers->size};
  const std::string what =
      fmt::format("{} of {} {} from {}", kSymversFileName, config.name, config.version, target.describe());
  auto reader = oci::verified(target.fetch(layer), layer, what);
  ckms::AtomicFile out(destination);
  out.write_from(*reader);
  out.commit();
}

}  // namespace ckms::artifact
