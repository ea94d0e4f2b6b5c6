#pragma once
// The steps `ckms install` into /lib/modules and `ckms install --sysext` share: fetching and
// verifying for every kernel before anything is placed, writing a verified file from the
// cache, recording it, running depmod, and the module options an artifact defaults.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/base/digest.hpp"
#include "ckms/loader/install.hpp"

namespace ckms::loader::detail {

// depmod owns the index format; ckms only asks it to index a tree. `base` "/" is the host.
void run_depmod(const std::filesystem::path& base, const std::string& release);

bool exists_or_link(const std::filesystem::path& file);

// not_found naming `release_dir` unless it is a directory and `release` a plain name.
void check_installed_kernel(const std::filesystem::path& release_dir, const std::string& release);

// Fetches and verifies the artifact for every kernel of the request (default: the running
// one), as `ckms load --fetch-only --kernel R` does; nothing is placed yet.
std::vector<KernelInstall> fetch_for_kernels(const InstallRequest& request, const InstallPaths& paths, Kernel& kernel,
                                             const std::vector<std::string>& releases);

// Writes the cached blob of `file` to `target` by atomic rename, re-hashed on the way: what
// lands is exactly the verified bytes, mode 0644.
void write_verified(const std::filesystem::path& target, const InstallPaths& paths, const InstalledFile& file);

// The same artifact's files are all in place below `release_dir`, as ckms wrote them.
bool already_installed(const std::optional<InstallRecord>& earlier, const InstallRecord& wanted,
                       const std::filesystem::path& release_dir);

// The records of `kernel_releases` (empty: every kernel with records) that `names` name by
// package or module name (empty: all). not_found when a name matches no record.
std::vector<InstallRecord> choose_records(const InstallRecords& records, const std::vector<std::string>& names,
                                          const std::vector<std::string>& kernel_releases);

// Whether any kernel still has a record of `package`.
bool installed_anywhere(const InstallRecords& records, std::string_view package);

// /etc/modprobe.d/ckms-MODULE.conf for every module of `fetched` that has parameters (the
// artifact's signed defaults, or a boot config's settings over them), so that `modprobe`
// applies what `ckms load` would. A file of that name ckms did not write is left as it is
// and named in the returned notes.
std::vector<std::string> write_module_options(const InstallPaths& paths, const LoadReport& fetched);

// Removes the options files of `record`'s modules, once no kernel has its package any more;
// only files ckms wrote for that package.
void remove_module_options(const InstallPaths& paths, const InstallRecord& record);

}  // namespace ckms::loader::detail
