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

}  // namespace

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
    for (const auto& entry : index.manifests) {
      const bool matches = entry.annotation(kKernelReleaseAnnotation) == kernel_release ||
                           (entry.platform && entry.platform->os_version == kernel_release);
      if (!matches) continue;
      auto module = detail::load_module(target, entry, fmt::format("{} entry {}", where, entry.digest.str()));
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
