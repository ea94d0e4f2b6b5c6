#include "ckms/loader/gc.hpp"

#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/oci/manifest.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

namespace {

struct Configured {
  std::string repository;
  std::optional<std::string> version;  // none for a digest pin without a tag: any version
  std::string file;
};

// Who needs what the cache holds.
struct Needs {
  std::map<ckms::Digest, std::string> manifests;  // digest -> who needs it
  std::vector<Configured> configured;
  fs::path modules_dir;
};

void add_install_records(const InstallRecords& records, Needs& needs) {
  for (const auto& release : records.releases()) {
    for (const auto& record : records.records(release)) {
      needs.manifests.emplace(record.manifest, fmt::format("{} is installed for {}", record.package, release));
    }
  }
}

void add_loaded_modules(const StateStore& state, Needs& needs) {
  for (const auto& record : state.records()) {
    needs.manifests.emplace(record.manifest, fmt::format("{} is loaded", record.module));
  }
}

void add_configured(const fs::path& directory, Needs& needs) {
  if (!fs::is_directory(directory)) return;
  for (const auto& file : boot_config_files(directory)) {
    const BootEntry entry = [&file] {
      try {
        return read_boot_entry(file);
      } catch (const Error& e) {
        throw naming_file(e, file);
      }
    }();
    if (!entry.enabled) continue;
    needs.configured.push_back(Configured{.repository = repository_key(entry.request.reference),
                                          .version = entry.request.reference.tag(),
                                          .file = file.string()});
  }
}

std::optional<std::string> who_needs(const CachedArtifact& artifact, const Needs& needs) {
  if (const auto found = needs.manifests.find(artifact.manifest.digest); found != needs.manifests.end()) {
    return found->second;
  }
  const std::string& release = artifact.config.kernel_release;
  if (!fs::is_directory(needs.modules_dir / release)) return std::nullopt;
  for (const auto& c : needs.configured) {
    if (c.repository == artifact.repository && (!c.version || *c.version == artifact.config.version)) {
      return fmt::format("{} asks for it and kernel {} is installed", c.file, release);
    }
  }
  return std::nullopt;
}

// The manifest, its config and its layers.
std::set<ckms::Digest> blobs_of(oci::Layout& layout, const CachedArtifact& artifact) {
  const auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(layout, artifact.manifest), artifact.name);
  std::set<ckms::Digest> blobs{artifact.manifest.digest, manifest.config.digest};
  for (const auto& layer : manifest.layers) blobs.insert(layer.digest);
  return blobs;
}

std::size_t blobs_only_removed_reach(oci::Layout& layout, const std::vector<CachedArtifact>& removed,
                                     const std::vector<CachedArtifact>& kept) {
  std::set<ckms::Digest> garbage;
  for (const auto& artifact : removed) garbage.merge(blobs_of(layout, artifact));
  for (const auto& artifact : kept) {
    for (const auto& digest : blobs_of(layout, artifact)) garbage.erase(digest);
  }
  return garbage.size();
}

}  // namespace

nlohmann::json GcReport::to_json() const {
  const auto list = [](const std::vector<GcArtifact>& artifacts) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& a : artifacts) out.push_back({{"name", a.name}, {"manifest", a.manifest.str()}, {"why", a.why}});
    return out;
  };
  return {{"dryRun", dry_run}, {"kept", list(kept)}, {"removed", list(removed)}, {"blobs", blobs}};
}

GcReport collect_garbage(const GcPaths& paths, bool dry_run) {
  StateStore state(paths.state_dir);
  const StateLock state_lock = state.lock();
  InstallRecords records(paths.records_dir);
  const StateLock records_lock = records.lock();

  Needs needs{.modules_dir = paths.root / fs::path(kDefaultModulesRoot).relative_path()};
  add_install_records(records, needs);
  add_loaded_modules(state, needs);
  add_configured(paths.config_dir, needs);

  ModuleCache cache(paths.cache_dir);
  GcReport report{.dry_run = dry_run};
  std::vector<CachedArtifact> kept, removed;
  for (auto& artifact : cache.artifacts()) {
    const auto why = who_needs(artifact, needs);
    auto& list = why ? report.kept : report.removed;
    list.push_back(GcArtifact{.name = artifact.name,
                              .manifest = artifact.manifest.digest,
                              .why = why.value_or("not installed, loaded or configured for an installed kernel")});
    (why ? kept : removed).push_back(std::move(artifact));
  }
  if (dry_run) {
    report.blobs = blobs_only_removed_reach(cache.layout(), removed, kept);
    return report;
  }
  for (const auto& artifact : removed) cache.layout().untag(artifact.name);
  report.blobs = cache.layout().gc();
  return report;
}

}  // namespace ckms::loader
