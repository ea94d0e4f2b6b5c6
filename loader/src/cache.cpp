// ModuleCache: names in the shared layout, and reading artifacts back from it.

#include <fmt/ranges.h>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/loader/cache.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "repository_view.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

std::string repository_key(const oci::Reference& reference) {
  if (reference.is_layout()) {
    return "oci:" + fs::absolute(reference.layout().directory).lexically_normal().string();
  }
  return reference.registry().repository_str();
}

namespace {

// Root fills the cache and later inserts what it holds: nobody else may have a hand in it.
fs::path checked_cache_dir(fs::path directory) {
  ckms::ensure_private_directory(directory, 0755, "module cache");
  return directory;
}

}  // namespace

ModuleCache::ModuleCache(fs::path directory)
    : layout_(checked_cache_dir(std::move(directory)), oci::Layout::Mode::create_if_missing) {}

std::string ModuleCache::record_name(std::string_view repository, std::string_view version,
                                     std::string_view kernel_release) {
  return fmt::format("{}:{}", repository, artifact::kernel_tag(version, kernel_release));
}

artifact::ResolvedModule ModuleCache::resolve(std::string_view repository, std::string_view version,
                                              std::string_view kernel_release) {
  detail::RepositoryView view(layout_, std::string(repository));
  try {
    return artifact::resolve_module(view, version, kernel_release);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    std::vector<std::string> cached;
    for (const auto& entry : artifacts()) {
      if (entry.repository == repository && entry.config.version == version) {
        cached.push_back(entry.config.kernel_release);
      }
    }
    fail(ErrorKind::not_found,
         "{} {} for kernel {} is not in the cache {} ({}); load it online once, or fetch it ahead "
         "with `ckms load --fetch-only --kernel {}`",
         repository, version, kernel_release, directory().string(),
         cached.empty() ? std::string("no kernel of that version is cached")
                        : fmt::format("cached for: {}", fmt::join(cached, ", ")),
         kernel_release);
  }
}

std::vector<CachedArtifact> ModuleCache::artifacts() {
  std::vector<CachedArtifact> out;
  for (const auto& entry : layout_.entries()) {
    const auto name = entry.annotation(oci::annotation::kRefName);
    if (!name || !oci::media_type::is_manifest(entry.media_type)) continue;
    const auto colon = name->rfind(':');
    if (colon == std::string::npos || colon == 0) continue;
    try {
      const auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(layout_, entry), *name);
      if (manifest.artifact_type != artifact::kModuleArtifactType) continue;
      auto config = artifact::ModuleConfig::parse(oci::fetch_bytes(layout_, manifest.config), *name);
      out.push_back(CachedArtifact{
          .name = *name, .repository = name->substr(0, colon), .manifest = entry, .config = std::move(config)});
    } catch (const Error&) {
      // A damaged entry is reported by `ckms verify`, and refused by a load that needs it.
    }
  }
  return out;
}

}  // namespace ckms::loader
