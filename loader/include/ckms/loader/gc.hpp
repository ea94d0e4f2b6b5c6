#pragma once
// `ckms gc`: what the module cache (cache.hpp) holds that nothing needs any more. An
// artifact is kept while an install record names its manifest (`ckms install`, whose
// uninstall and --retry use it), a loaded module's state record names it (`ckms unload`,
// `status`), or it is for an installed kernel (a directory under <root>/lib/modules) and an
// enabled /etc/ckms/modules.d entry asks for its repository and version: the boot unit
// loads it from the cache before the network is up. Everything else is untagged, and the
// blobs no remaining artifact reaches are deleted (oci::Layout::gc).

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/base/digest.hpp"
#include "ckms/loader/boot_config.hpp"
#include "ckms/loader/cache.hpp"
#include "ckms/loader/install_records.hpp"
#include "ckms/loader/state.hpp"

namespace ckms::loader {

struct GcPaths {
  std::filesystem::path root{"/"};  // whose lib/modules says which kernels are installed
  std::filesystem::path cache_dir{kDefaultCacheDir};
  std::filesystem::path records_dir{kDefaultInstallRecordsDir};
  std::filesystem::path state_dir{kDefaultStateDir};
  std::filesystem::path config_dir{kDefaultConfigDir};
};

struct GcArtifact {
  std::string name;  // as the cache records it: "<repository>:<version>-<release>"
  ckms::Digest manifest;
  std::string why;  // kept: who needs it; removed: why nobody does
};

struct GcReport {
  bool dry_run = false;
  std::vector<GcArtifact> kept;
  std::vector<GcArtifact> removed;
  // Blobs deleted; with dry_run, the blobs of the removed artifacts that no kept one shares.
  std::size_t blobs = 0;

  nlohmann::json to_json() const;
};

// Holds the loader's and the installer's locks while it runs, so that no load or install
// commits into the cache meanwhile. A modules.d file that cannot be read stops it before
// anything is removed (it might have named what would go).
GcReport collect_garbage(const GcPaths& paths, bool dry_run);

}  // namespace ckms::loader
