#pragma once
// `ckms status`: one line per module, like `dkms status`:
//   ckms_hello/1.0.0, 6.1.0-56-cloud-amd64, x86_64: loaded
// from the state records (checked against /sys/module), the install records (a module
// installed into /lib/modules/<release> by `ckms install`) and the cache.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/loader/cache.hpp"
#include "ckms/loader/install_records.hpp"
#include "ckms/loader/kernel.hpp"
#include "ckms/loader/state.hpp"

namespace ckms::loader {

enum class ModuleStatus {
  loaded,      // recorded and live, the recorded build (srcversion)
  not_loaded,  // recorded, but the kernel does not have it (removed behind ckms's back)
  changed,     // recorded, but the kernel has another build of that name
  installed,   // installed for its kernel by `ckms install` (beside loaded, when both)
  cached,      // in the cache, neither loaded nor installed by ckms
};

std::string_view to_string(ModuleStatus status);

struct StatusEntry {
  std::string module;
  std::string package;
  std::string version;
  std::string kernel_release;
  std::string arch;
  ModuleStatus status = ModuleStatus::cached;
  std::string source;  // reference of the load, or the cached repository
  std::optional<ModuleRecord> record;

  std::string line() const;
  nlohmann::json to_json() const;
};

// `cache` and `installed` may be null (no cache directory yet, no install records asked for).
std::vector<StatusEntry> status(const StateStore& state, ModuleCache* cache, Kernel& kernel,
                                const InstallRecords* installed = nullptr);

}  // namespace ckms::loader
