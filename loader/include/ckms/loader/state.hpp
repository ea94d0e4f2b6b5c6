#pragma once
// What the loader did, one small JSON file per module it loaded
// (<state dir>/modules/<module>.json, written atomically), for `ckms status` and
// `ckms unload`. The default state directory is /run/ckms: a record lives as long as the
// kernel that holds the module, so a reboot never leaves records of modules that are gone.
// A record also carries the boot it was written in, for state directories that persist.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/artifact/module_parameters.hpp"
#include "ckms/base/digest.hpp"
#include "ckms/base/io.hpp"

namespace ckms::loader {

inline constexpr std::string_view kDefaultStateDir = "/run/ckms";

struct ModuleRecord {
  std::string module;  // normalised, as /sys/module names it
  std::string package;
  std::string version;
  std::string kernel_release;
  std::string arch;
  std::string source;      // the reference the load was asked for
  std::string cache_name;  // what the artifact is recorded as in the cache
  ckms::Digest manifest;
  std::string file;
  ckms::Digest file_digest;
  std::string srcversion;
  std::string signer;  // subject of the trusted certificate that verified it
  artifact::ParameterValues parameters;
  // Where each parameter came from: "command line" or "signed default" (the artifact's
  // defaults, signed with the modules' key). Empty in records written before ckms said.
  artifact::ParameterValues parameter_sources;
  // In-tree modules this load inserted for the package, in insertion order.
  std::vector<std::string> dependencies_inserted;
  int order = 0;          // position in the artifact's load order
  bool inserted = true;   // false: already loaded (same srcversion) and adopted
  std::string loaded_at;  // RFC 3339 UTC
  std::string boot_id;    // /proc/sys/kernel/random/boot_id

  nlohmann::json to_json() const;
  // Integrity error naming `where` for a record that is not one.
  static ModuleRecord from_json(const nlohmann::json& j, std::string_view where);
};

// The current boot's id, or "" where the kernel does not expose one.
std::string current_boot_id();

// Serialises loads and unloads on one node (an exclusive flock on <state dir>/lock), so
// that two of them never interleave inserts, rollbacks and records.
class StateLock {
 public:
  explicit StateLock(ckms::UniqueFd fd) : fd_(std::move(fd)) {}

 private:
  ckms::UniqueFd fd_;
};

class StateStore {
 public:
  explicit StateStore(std::filesystem::path directory);

  const std::filesystem::path& directory() const { return directory_; }
  [[nodiscard]] StateLock lock();

  // Every record, ordered by load time then load order. A record that cannot be read is an
  // integrity error naming its file.
  std::vector<ModuleRecord> records() const;
  std::optional<ModuleRecord> find(std::string_view module) const;
  void write(const ModuleRecord& record);
  void erase(std::string_view module);

 private:
  std::filesystem::path record_path(std::string_view module) const;
  std::filesystem::path directory_;
};

}  // namespace ckms::loader
