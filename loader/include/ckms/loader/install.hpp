#pragma once
// `ckms install REPO:VERSION [--kernel R]...` and `ckms uninstall`: what `dkms install` and
// `dkms uninstall` do, for a verified artifact. The artifact is fetched and verified exactly
// as `ckms load --fetch-only` does (digests, signatures against the trusted certificates,
// vermagic for each kernel), then its files are placed in
// <root>/lib/modules/<release>/updates/ckms/ by atomic rename and `depmod -a <release>` runs,
// so that modprobe, modinfo and udev's modalias autoload find them with no ckms involved.
//
// All-or-nothing: every kernel is fetched and verified before any file is placed, and a
// failure after that (a file ckms did not put there, depmod failing, a record that cannot be
// written) restores every kernel's earlier files, records and indexes. What was installed is
// recorded with its digests (install_records.hpp); uninstall removes exactly that and runs
// depmod again.
//
// A package needed in early boot (`initramfs`) is recorded so; when such a package changes
// for a kernel, that kernel's initramfs is built again (initramfs.hpp) once the install or
// uninstall is complete. A failure to do so is an error, after the change.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/loader/boot_config.hpp"
#include "ckms/loader/install_records.hpp"
#include "ckms/loader/kernel.hpp"
#include "ckms/loader/load.hpp"

namespace ckms::loader {

// `--sysext` (sysext.hpp): where systemd-sysext looks, and what ckms put there.
inline constexpr std::string_view kDefaultExtensionsDir = "/var/lib/extensions";
inline constexpr std::string_view kDefaultSysextRecordsDir = "/var/lib/ckms-sysext";

struct InstallPaths {
  // The tree installed into: <root>/lib/modules; `depmod -b <root>` unless it is "/".
  std::filesystem::path root{"/"};
  std::filesystem::path cache_dir{kDefaultCacheDir};
  std::filesystem::path records_dir{kDefaultInstallRecordsDir};
  std::filesystem::path trust_dir{kDefaultTrustDir};
  std::filesystem::path sysext_records_dir{kDefaultSysextRecordsDir};

  std::filesystem::path release_dir(std::string_view release) const;
};

struct InstallRequest {
  LoadRequest load;                          // what to fetch, how, and whom to trust
  std::vector<std::string> kernel_releases;  // default: the running kernel
  bool initramfs = false;                    // needed in early boot: recorded for the initramfs hooks
  // Off in the kernel packages' hooks, where the kernel's own initramfs is built next anyway.
  bool update_initramfs = true;
};

struct KernelInstall {
  InstallRecord record;
  std::vector<std::string> replaced;  // files of the package's earlier install, replaced or removed
  bool unchanged = false;             // the same artifact was installed already: no file written
  // Early-boot files changed (or the package became, or stopped being, early): the
  // release's initramfs no longer matches.
  bool initramfs_stale = false;
  std::vector<std::string> initramfs_command;  // run to build it again, when it was
  LoadReport fetched;
  double depmod_ms = 0;
};

struct InstallReport {
  std::string source;
  std::vector<KernelInstall> kernels;
  std::vector<std::string> notes;  // what was left alone, and why

  nlohmann::json to_json() const;
};

InstallReport install(const InstallRequest& request, const InstallPaths& paths, Kernel& kernel);

using ConfiguredInstall = ConfiguredResult<InstallReport>;

// `ckms install --all`: every enabled artifact of a boot config directory (boot_config.hpp)
// for `kernel_releases`; one failure does not stop the others. `trust` applies to entries
// that name none; each entry's `initramfs` says whether it is needed in early boot, and
// `update_initramfs` is InstallRequest's.
std::vector<ConfiguredInstall> install_configured(const std::filesystem::path& directory,
                                                  const std::vector<std::filesystem::path>& trust,
                                                  const std::vector<std::string>& kernel_releases,
                                                  bool update_initramfs, const InstallPaths& paths, Kernel& kernel);

// `ckms install --all --retry-missing`: the same, but each entry only for the kernels
// (default: every installed kernel, a directory under <root>/lib/modules) that have no
// install record from the entry's reference: what a kernel hook could not install because
// the artifact was not published yet, or an entry whose reference changed since. An entry
// with nothing missing asks no registry and reports no kernel.
std::vector<ConfiguredInstall> install_missing(const std::filesystem::path& directory,
                                               const std::vector<std::filesystem::path>& trust,
                                               const std::vector<std::string>& kernel_releases, bool update_initramfs,
                                               const InstallPaths& paths, Kernel& kernel);

struct UninstalledPackage {
  std::string package;
  std::string version;
  std::string kernel_release;
  std::vector<std::string> removed;
  // Files whose bytes are no longer what ckms wrote: someone else's now, left in place.
  std::vector<std::string> left_changed;
};

struct UninstallReport {
  std::vector<UninstalledPackage> packages;
  std::vector<std::string> notes;
  std::vector<std::string> initramfs_stale;  // releases that lost an early-boot package: built again

  nlohmann::json to_json() const;
};

// `names`: packages or module names; empty means every package ckms installed.
// `kernel_releases`: empty means every kernel with records. not_found when a name matches
// no record. A kernel whose module tree is gone (its package removed) only loses its records.
// `update_initramfs`: as InstallRequest's.
UninstallReport uninstall(const std::vector<std::string>& names, const std::vector<std::string>& kernel_releases,
                          const InstallPaths& paths, bool update_initramfs = true);

}  // namespace ckms::loader
