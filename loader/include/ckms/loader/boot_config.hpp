#pragma once
// Modules an immutable host loads at boot: one YAML file per artifact in a config directory
// (default /etc/ckms/modules.d/*.yaml), loaded in file name order by
// `ckms load --all` (the systemd unit) or `ckms load --config-dir DIR`:
//
//   artifact: registry.example.com/ckms/hello:1.0.0   # required: REPO:VERSION
//   trust: /etc/ckms/trust.d/vendor.pem               # file, directory, or a list of them
//   parameters:                                       # [MODULE.]NAME: VALUE
//     greeting: hello
//   network: fallback                                 # online | offline | fallback
//   registry: {plain-http: false, ca-cert: FILE, authfile: FILE}
//   enabled: true
//   initramfs: false                                  # needed in early boot (`ckms install`)
//
// Every mistake is a usage error naming the file, the line and the key: a typo in a boot
// config must not silently drop a module or a parameter.

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/loader/load.hpp"

namespace ckms::loader {

inline constexpr std::string_view kDefaultConfigDir = "/etc/ckms/modules.d";

struct BootEntry {
  std::filesystem::path file;
  LoadRequest request;
  bool enabled = true;
  bool initramfs = false;  // `ckms install` records it for the initramfs hooks; `ckms load` ignores it
};

BootEntry read_boot_entry(const std::filesystem::path& file);

// The *.yaml and *.yml files of `directory` in name order (hidden files skipped). A
// missing directory is a usage error; an empty one holds no entries.
std::vector<std::filesystem::path> boot_config_files(const std::filesystem::path& directory);

// What one entry of a boot config directory gave.
template <class Report>
struct ConfiguredResult {
  std::filesystem::path file;
  std::optional<Report> report;  // set when its action succeeded
  std::optional<Error> error;    // set when it failed
  bool skipped = false;          // enabled: false
};

using BootResult = ConfiguredResult<LoadReport>;

// `error`, naming `file` unless it does already.
Error naming_file(const Error& error, const std::filesystem::path& file);

// Runs `act` on every enabled entry of `directory` (with `trust` filled in); one failure (a bad file
// too) does not stop the others, since each action is all-or-nothing by itself. `trust`
// applies to entries that name none.
template <class Report, class Act>
std::vector<ConfiguredResult<Report>> for_each_boot_entry(const std::filesystem::path& directory,
                                                          const std::vector<std::filesystem::path>& trust, Act act) {
  std::vector<ConfiguredResult<Report>> out;
  for (const auto& file : boot_config_files(directory)) {
    ConfiguredResult<Report> result{.file = file};
    try {
      auto entry = read_boot_entry(file);
      if (!entry.enabled) {
        result.skipped = true;
      } else {
        if (entry.request.trust.empty()) entry.request.trust = trust;
        result.report = act(entry);
      }
    } catch (const Error& e) {
      result.error = naming_file(e, file);
    }
    out.push_back(std::move(result));
  }
  return out;
}

// Loads every enabled entry (for_each_boot_entry).
std::vector<BootResult> load_boot_config(const std::filesystem::path& directory,
                                         const std::vector<std::filesystem::path>& trust, const LoaderPaths& paths,
                                         Kernel& kernel);

}  // namespace ckms::loader
