#pragma once
// The node's module cache: one OCI image layout (default /var/lib/ckms) shared by every load,
// so that `--offline` (a host booting before its network) finds what an online load stored.
// Artifacts are recorded in index.json under their fully qualified name,
// "<registry>/<repository>:<version>-<kernel release>", so one layout holds any number of
// repositories.
//
// A load never changes the cache until it has succeeded: missing blobs are fetched into a
// staging layout beside the cache (verified while streaming, like every Layout push), and
// only commit() moves them in and records the name. A refused load leaves the cache as it
// was; a crashed one leaves a staging directory that the next load removes.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/reference.hpp"

namespace ckms::loader {

inline constexpr std::string_view kDefaultCacheDir = "/var/lib/ckms";

// Names a repository in the cache: "host[:port]/repo" for a registry, "oci:<absolute dir>"
// for a layout.
std::string repository_key(const oci::Reference& reference);

struct CachedArtifact {
  std::string name;  // as recorded: "<repository>:<tag>"
  std::string repository;
  oci::Descriptor manifest;
  artifact::ModuleConfig config;
};

class ModuleCache {
 public:
  explicit ModuleCache(std::filesystem::path directory);

  oci::Layout& layout() { return layout_; }
  const std::filesystem::path& directory() const { return layout_.directory(); }

  static std::string record_name(std::string_view repository, std::string_view version,
                                 std::string_view kernel_release);

  // What an earlier load of `repository` stored for this version and kernel, checked as
  // resolve_module checks a registry's. not_found names the kernels the cache does have.
  artifact::ResolvedModule resolve(std::string_view repository, std::string_view version,
                                   std::string_view kernel_release);

  // Every module artifact recorded in the cache (for status); entries that are not module
  // artifacts, or whose blobs are damaged, are left out.
  std::vector<CachedArtifact> artifacts();

 private:
  oci::Layout layout_;
};

// A layer as the loader verifies and inserts it: the bytes, read through `file`.
struct LocalBlob {
  std::string bytes;
  ckms::UniqueFd file;
};

class Staging {
 public:
  // `source` is where missing blobs come from; nullptr when offline.
  Staging(ModuleCache& cache, oci::Target* source);
  ~Staging();
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

  // Makes the manifest, config and every layer of `module` local: what the cache lacks is
  // fetched into the staging layout. Offline, a missing blob is not_found.
  void fetch(const artifact::ResolvedModule& module);

  // Reads one layer, re-hashing it: a cached copy that no longer matches its digest is
  // fetched again when online, and an integrity error offline.
  LocalBlob read_layer(const artifact::ModuleFile& file);

  // Moves the staged blobs into the cache and records the manifest under `name`.
  void commit(const artifact::ResolvedModule& module, std::string_view name);

 private:
  std::filesystem::path staged_or_cached(const ckms::Digest& digest) const;
  void fetch_blob(const oci::Descriptor& descriptor);

  ModuleCache& cache_;
  oci::Target* source_;
  std::filesystem::path directory_;
  ckms::UniqueFd lock_;
  std::unique_ptr<oci::Layout> staged_;
};

}  // namespace ckms::loader
