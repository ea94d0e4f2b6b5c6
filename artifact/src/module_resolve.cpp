// resolve_module: the per-kernel tag, which is the source of truth, else the index entry
// (an index copied on its own, e.g. by `skopeo copy --all`, keeps only the `<version>` tag).

#include <fmt/ranges.h>

#include "ckms/oci/media_types.hpp"
#include "ckms/oci/reference.hpp"
#include "module_internal.hpp"

namespace ckms::artifact {
namespace {

bool is_for(const ModuleConfig& config, std::string_view version, std::string_view release) {
  return config.version == version && config.kernel_release == release;
}

std::string kernels_available(oci::Target& target, std::string_view version) {
  const auto kernels = published_kernels(target, version);
  if (!kernels.empty()) return fmt::format("kernels with an artifact: {}", fmt::join(kernels, ", "));
  return fmt::format("no index '{}' lists any kernel", oci::sanitize_tag(version));
}

// The index entry for a kernel: by the release annotation, or the platform's os.version.
std::optional<oci::Descriptor> entry_for_kernel(const oci::ImageIndex& index, std::string_view kernel_release) {
  for (const auto& entry : index.manifests) {
    if (entry.annotation(kKernelReleaseAnnotation) == kernel_release ||
        (entry.platform && entry.platform->os_version == kernel_release)) {
      return entry;
    }
  }
  return std::nullopt;
}

ResolvedModule load_pinned_index(oci::Target& target, const oci::Descriptor& descriptor,
                                 std::string_view kernel_release, const std::string& where) {
  const auto index = oci::ImageIndex::parse(oci::fetch_bytes(target, descriptor), where);
  const auto entry = entry_for_kernel(index, kernel_release);
  if (!entry) fail(ErrorKind::not_found, "{}: the module index has no entry for kernel {}", where, kernel_release);
  return detail::load_module(target, *entry, fmt::format("{} entry {}", where, entry->digest.str()));
}

}  // namespace

ResolvedModule resolve_pinned_module(oci::Target& target, const ckms::Digest& digest, std::string_view kernel_release) {
  const std::string where = fmt::format("{}@{}", target.describe(), digest.str());
  const auto descriptor = target.resolve(digest.str());
  // fetch_bytes checks the bytes against the descriptor's digest: it must be the pinned one.
  if (descriptor.digest != digest) {
    fail(ErrorKind::integrity, "{}: the registry answered with {} instead", where, descriptor.digest.str());
  }
  auto module = oci::media_type::is_index(descriptor.media_type)
                    ? load_pinned_index(target, descriptor, kernel_release, where)
                    : detail::load_module(target, descriptor, where);
  if (module.config.kernel_release != kernel_release) {
    fail(ErrorKind::refused, "wrong kernel: {} is {} {} built for kernel {}, not for {}", where, module.config.name,
         module.config.version, module.config.kernel_release, kernel_release);
  }
  return module;
}

ResolvedModule resolve_module(oci::Target& target, std::string_view version, std::string_view kernel_release) {
  const std::string tag = kernel_tag(version, kernel_release);
  if (const auto tagged = detail::try_resolve(target, tag)) {
    auto module = detail::load_module(target, *tagged, fmt::format("{}:{}", target.describe(), tag));
    // Sanitising can map two releases onto one tag (a '+' and a '_'): the config decides,
    // and the index may still hold the other one.
    if (is_for(module.config, version, kernel_release)) return module;
    // Otherwise the tag was pointed at another kernel's artifact: refused, as loading it is.
    if (kernel_tag(module.config.version, module.config.kernel_release) != tag) {
      fail(ErrorKind::refused, "wrong kernel: {}:{} holds {} {} built for kernel {}, not {} {} for kernel {}",
           target.describe(), tag, module.config.name, module.config.version, module.config.kernel_release,
           module.config.name, version, kernel_release);
    }
  }

  const std::string index_tag = oci::sanitize_tag(version);
  const std::string where = fmt::format("{}:{}", target.describe(), index_tag);
  if (const auto index_descriptor = detail::try_resolve(target, index_tag)) {
    if (!oci::media_type::is_index(index_descriptor->media_type)) {
      fail(ErrorKind::integrity, "{} is a {}, not a module index", where, index_descriptor->media_type);
    }
    const auto index = oci::ImageIndex::parse(oci::fetch_bytes(target, *index_descriptor), where);
    if (const auto entry = entry_for_kernel(index, kernel_release)) {
      auto module = detail::load_module(target, *entry, fmt::format("{} entry {}", where, entry->digest.str()));
      if (!is_for(module.config, version, kernel_release)) {
        fail(ErrorKind::integrity, "{}: the entry for kernel {} holds {} {} for kernel {}", where, kernel_release,
             module.config.name, module.config.version, module.config.kernel_release);
      }
      return module;
    }
  }
  fail(ErrorKind::not_found, "{}: no module artifact of version {} for kernel {} ({})", target.describe(), version,
       kernel_release, kernels_available(target, version));
}

}  // namespace ckms::artifact
