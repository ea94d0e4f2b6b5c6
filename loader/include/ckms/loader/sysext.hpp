#pragma once
// `ckms install --sysext` / `ckms uninstall --sysext`: for hosts whose /usr is read-only
// (Flatcar, Fedora CoreOS), the modules go into a systemd system extension in directory form
// that systemd-sysext merges over /usr, one per kernel:
//
//   <root>/var/lib/extensions/ckms-<release>/
//     usr/lib/modules/<release>/updates/ckms/<files>    the verified files
//     usr/lib/modules/<release>/modules.*                depmod's indexes of the merged tree
//     usr/lib/extension-release.d/extension-release.ckms-<release>
//                                                        the host's ID and VERSION_ID, the
//                                                        kernel's ARCHITECTURE
//
// Every package installed for the kernel is in its extension. A change builds a whole new
// extension beside the old one (".#ckms-<release>.XXXXXX", a name systemd-sysext skips),
// the files of the packages it keeps hard-linked from the old one, and exchanges it in by
// one rename: the extension is never seen half-built, and a failure leaves the old one.
// Records (install_records.hpp) live in InstallPaths::sysext_records_dir. When systemd runs
// the host (and the root is "/"), `systemd-sysext refresh` merges the new extension.

#include <string>
#include <string_view>
#include <vector>

#include "ckms/loader/install.hpp"

namespace ckms::loader {

// Every kernel named must have <root>/usr/lib/modules/<release> (merged /usr): that is the
// hierarchy an extension extends.
InstallReport install_sysext(const InstallRequest& request, const InstallPaths& paths, Kernel& kernel);

std::vector<ConfiguredInstall> install_sysext_configured(const std::filesystem::path& directory,
                                                         const std::vector<std::filesystem::path>& trust,
                                                         const std::vector<std::string>& kernel_releases,
                                                         const InstallPaths& paths, Kernel& kernel);

// As uninstall(): the packages go from their kernels' extensions; an extension left with
// none is removed.
UninstallReport uninstall_sysext(const std::vector<std::string>& names, const std::vector<std::string>& kernel_releases,
                                 const InstallPaths& paths);

// The extension-release file for a host: its os-release's ID and VERSION_ID (SYSEXT_LEVEL
// when it has no VERSION_ID), and the ARCHITECTURE of `machine` (uname -m), which
// systemd-sysext compares with the host's. The host's os-release is <root>/etc/os-release,
// else <root>/usr/lib/os-release, as systemd reads it.
std::string extension_release_for(const std::filesystem::path& root, std::string_view machine);

}  // namespace ckms::loader
