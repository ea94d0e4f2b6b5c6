// install_sysext() and uninstall_sysext(): an extension is rebuilt whole beside the old one
// (ExtensionBuild) and exchanged in; depmod indexes a tree of links that is what the merged
// /usr/lib/modules/<release> will be.

#include "ckms/loader/sysext.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/base/process.hpp"
#include "ckms/base/temp_dir.hpp"
#include "install_steps.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kExtensionPrefix = "ckms-";

std::string extension_name(std::string_view release) { return fmt::format("{}{}", kExtensionPrefix, release); }
fs::path extensions_dir(const InstallPaths& paths) {
  return paths.root / fs::path(kDefaultExtensionsDir).relative_path();
}
fs::path extension_dir(const InstallPaths& paths, std::string_view release) {
  return extensions_dir(paths) / extension_name(release);
}
fs::path modules_below(const fs::path& top, std::string_view release) {
  return top / "usr" / "lib" / "modules" / release;
}

// depmod's inputs among the modules.* files; every other modules.* file is an index it
// writes, which the extension carries for the merged tree.
bool is_depmod_input(const std::string& name) {
  return name == "modules.order" || name == "modules.builtin" || name == "modules.builtin.modinfo";
}

// Links every entry of `from` into `to` but those `skip` names.
template <class Skip>
void link_entries(const fs::path& from, const fs::path& to, Skip skip) {
  for (const auto& entry : fs::directory_iterator(from)) {
    const std::string name = entry.path().filename().string();
    if (!skip(name)) fs::create_symlink(entry.path(), to / name);
  }
}

// Runs depmod over what the merged /usr/lib/modules/<release> will be: the host's entries
// (not its indexes, not updates/ckms, which only the extension fills) and the extension's
// updates/ckms, all as links in a scratch tree beside it; moves the indexes into `out`.
void index_merged_tree(const fs::path& host_dir, const fs::path& out, const std::string& release,
                       const fs::path& scratch_parent) {
  const TempDir scratch(".#ckms-depmod.", scratch_parent);
  const fs::path dir = modules_below(scratch.path(), release);
  fs::create_directories(dir / "updates");
  // kmod before 31 reads <base>/lib/modules, later ones may read <base>/usr/lib/modules.
  fs::create_directory_symlink("usr/lib", scratch / "lib");
  link_entries(host_dir, dir, [](const std::string& name) {
    return name == "updates" || (name.starts_with("modules.") && !is_depmod_input(name));
  });
  std::error_code ec;
  if (fs::is_directory(host_dir / "updates", ec)) {
    link_entries(host_dir / "updates", dir / "updates", [](const std::string& name) { return name == "ckms"; });
  }
  fs::create_directory_symlink(out / kInstallSubdir, dir / kInstallSubdir);
  detail::run_depmod(scratch.path(), release);
  std::vector<fs::path> indexes;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("modules.") && entry.is_regular_file() && !entry.is_symlink()) indexes.push_back(entry.path());
  }
  for (const auto& index : indexes) fs::rename(index, out / index.filename());
}

// One kernel's new extension, built beside the current one; commit() exchanges it in, and
// unless kept the old one comes back when this is destroyed.
class ExtensionBuild {
 public:
  ExtensionBuild(const InstallPaths& paths, std::string release, std::string arch)
      : paths_(paths),
        release_(std::move(release)),
        arch_(std::move(arch)),
        target_(extension_dir(paths, release_)),
        staged_(".#" + extension_name(release_) + ".", extensions_dir(paths)) {
    fs::create_directories(modules_below(staged_.path(), release_) / kInstallSubdir);
  }
  ExtensionBuild(const ExtensionBuild&) = delete;
  ExtensionBuild& operator=(const ExtensionBuild&) = delete;
  ~ExtensionBuild() {
    if (committed_ && !kept_) exchange_back();
  }

  // A package that stays: its files as the current extension has them, which must still be
  // what ckms wrote.
  void keep(const InstallRecord& record) {
    for (const auto& file : record.files) {
      const fs::path current = modules_below(target_, release_) / file.path;
      if (digest_of_installed(current) != file.digest) {
        fail(ErrorKind::integrity, "{} is not what ckms wrote: `ckms install --sysext` its package {} again",
             current.string(), record.package);
      }
      if (::link(current.c_str(), staged_file(file).c_str()) != 0) fail_errno("cannot link " + current.string());
    }
  }

  void add(const InstallRecord& record) {
    for (const auto& file : record.files) detail::write_verified(staged_file(file), paths_, file);
  }

  void index() {
    const fs::path out = modules_below(staged_.path(), release_);
    index_merged_tree(modules_below(paths_.root, release_), out, release_, extensions_dir(paths_));
    const fs::path release_file =
        staged_ / "usr" / "lib" / "extension-release.d" / ("extension-release." + extension_name(release_));
    fs::create_directories(release_file.parent_path());
    ckms::AtomicFile file(release_file);
    file.write(extension_release_for(paths_.root, arch_));
    file.commit();
    // The work directory is private while it is built; an extension is readable by all.
    fs::permissions(staged_.path(), fs::perms(0755));
  }

  void commit() {
    existed_ = detail::exists_or_link(target_);
    const unsigned flags = existed_ ? RENAME_EXCHANGE : RENAME_NOREPLACE;
    if (::renameat2(AT_FDCWD, staged_.path().c_str(), AT_FDCWD, target_.c_str(), flags) != 0) {
      fail_errno("cannot move " + staged_.path().string() + " to " + target_.string());
    }
    committed_ = true;
    fsync_directory(target_.parent_path());
  }

  void keep_committed() { kept_ = true; }

 private:
  fs::path staged_file(const InstalledFile& file) const { return modules_below(staged_.path(), release_) / file.path; }

  void exchange_back() noexcept {
    const unsigned flags = existed_ ? RENAME_EXCHANGE : RENAME_NOREPLACE;
    ::renameat2(AT_FDCWD, target_.c_str(), AT_FDCWD, staged_.path().c_str(), flags);
  }

  const InstallPaths& paths_;
  std::string release_;
  std::string arch_;
  fs::path target_;
  TempDir staged_;  // the new extension until committed, then the old one, removed with it
  bool existed_ = false;
  bool committed_ = false;
  bool kept_ = false;
};

// Moves a kernel's extension aside by one rename; it is deleted with the returned directory,
// which the caller keeps until systemd-sysext no longer has it merged.
std::unique_ptr<TempDir> remove_extension(const InstallPaths& paths, const std::string& release) {
  const fs::path target = extension_dir(paths, release);
  if (!detail::exists_or_link(target)) return nullptr;
  auto trash = std::make_unique<TempDir>(".#" + extension_name(release) + ".", extensions_dir(paths));
  fs::rename(target, *trash / "old");
  return trash;
}

// Installed as recorded, for the host as it is now (an OS update may change what the
// extension must say to be merged).
bool extension_current(const InstallPaths& paths, const std::optional<InstallRecord>& earlier,
                       const InstallRecord& wanted) {
  const std::string& release = wanted.kernel_release;
  const fs::path dir = extension_dir(paths, release);
  const fs::path release_file =
      dir / "usr" / "lib" / "extension-release.d" / ("extension-release." + extension_name(release));
  return detail::already_installed(earlier, wanted, modules_below(dir, release)) &&
         digest_of_installed(release_file) == ckms::digest_of(extension_release_for(paths.root, wanted.arch));
}

// What a package's new install shares with another package is refused before anything changes.
void check_conflicts(const InstallRecord& wanted, const std::vector<InstallRecord>& others) {
  for (const auto& other : others) {
    for (const auto& theirs : other.files) {
      for (const auto& ours : wanted.files) {
        if (ours.path == theirs.path) {
          fail(ErrorKind::refused,
               "{} of kernel {}'s extension belongs to package {}: `ckms uninstall --sysext {}` first", ours.path,
               wanted.kernel_release, other.package, other.package);
        }
      }
    }
  }
}

std::vector<InstallRecord> others_than(const InstallRecords& records, const std::string& release,
                                       const std::set<std::string>& packages) {
  std::vector<InstallRecord> out;
  for (auto& record : records.records(release)) {
    if (!packages.contains(record.package)) out.push_back(std::move(record));
  }
  return out;
}

// When systemd runs this host, the new extensions are merged now; otherwise at its next boot.
std::string refresh(const InstallPaths& paths) {
  std::error_code ec;
  if (paths.root != "/" || !fs::is_directory("/run/systemd/system", ec)) {
    return "systemd is not running this root: systemd-sysext merges the extension when it next starts "
           "(or run `systemd-sysext refresh`)";
  }
  const auto result = ckms::run_process({"systemd-sysext", "refresh"}, "/");
  if (result.exit_code != 0) {
    return fmt::format("WARNING: `systemd-sysext refresh` failed (exit {}): {}", result.exit_code, result.err);
  }
  return "systemd-sysext refresh: merged";
}

std::string os_release_value(std::string value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
    value = value.substr(1, value.size() - 2);
  }
  return value;
}

std::map<std::string, std::string> read_os_release(const fs::path& root) {
  fs::path file;
  for (const auto* candidate : {"etc/os-release", "usr/lib/os-release"}) {
    fs::path path = root / candidate;
    std::error_code ec;
    // An absolute link means a path in the root, not on the machine running ckms.
    if (fs::is_symlink(path, ec) && fs::read_symlink(path, ec).is_absolute()) {
      path = root / fs::read_symlink(path).relative_path();
    }
    if (fs::is_regular_file(path, ec)) {
      file = path;
      break;
    }
  }
  if (file.empty()) {
    fail(ErrorKind::not_found, "no os-release in {}: systemd-sysext matches an extension to the host's os-release",
         (root / "etc/os-release").string());
  }
  std::map<std::string, std::string> out;
  std::istringstream lines(ckms::read_file(file, 1 << 20));
  for (std::string line; std::getline(lines, line);) {
    const auto equals = line.find('=');
    if (line.starts_with("#") || equals == std::string::npos) continue;
    out[line.substr(0, equals)] = os_release_value(line.substr(equals + 1));
  }
  return out;
}

// Values written unquoted: what os-release allows for these fields, nothing to escape.
bool is_plain_value(std::string_view value) {
  return !value.empty() &&
         value.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-~+") ==
             std::string_view::npos;
}

// systemd's name for a kernel's architecture (ConditionArchitecture=), from `uname -m`.
std::optional<std::string> systemd_architecture(std::string_view machine) {
  static const std::map<std::string_view, std::string_view> names{
      {"x86_64", "x86-64"}, {"aarch64", "arm64"}, {"ppc64le", "ppc64-le"}, {"s390x", "s390x"}, {"riscv64", "riscv64"}};
  const auto it = names.find(machine);
  if (it == names.end()) return std::nullopt;
  return std::string(it->second);
}

}  // namespace

std::string extension_release_for(const fs::path& root, std::string_view machine) {
  const auto host = read_os_release(root);
  // os-release(5): ID defaults to "linux". VERSION_ID before SYSEXT_LEVEL: the indexes are
  // depmod's for this /usr, so an OS update must not merge them until ckms made them anew
  // (Flatcar's guide to kernel module extensions matches VERSION_ID for the same reason).
  // A host with neither (a rolling release) is matched by ID alone.
  std::vector<std::pair<std::string, std::string>> fields{{"ID", host.contains("ID") ? host.at("ID") : "linux"}};
  for (const char* field : {"VERSION_ID", "SYSEXT_LEVEL"}) {
    if (host.contains(field) && !host.at(field).empty()) {
      fields.emplace_back(field, host.at(field));
      break;
    }
  }
  if (const auto architecture = systemd_architecture(machine)) fields.emplace_back("ARCHITECTURE", *architecture);
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!is_plain_value(value)) {
      fail(ErrorKind::usage, "the host's os-release has {}='{}', which ckms cannot match: not a plain os-release value",
           name, value);
    }
    out += fmt::format("{}={}\n", name, value);
  }
  return out;
}

InstallReport install_sysext(const InstallRequest& request, const InstallPaths& paths, Kernel& kernel) {
  std::vector<std::string> releases = request.kernel_releases;
  if (releases.empty()) releases.push_back(kernel.release());
  for (const auto& release : releases) detail::check_installed_kernel(modules_below(paths.root, release), release);
  fs::create_directories(extensions_dir(paths));
  InstallRecords records(paths.sysext_records_dir);
  const StateLock lock = records.lock();
  InstallReport report{.source = request.load.reference.str()};
  report.kernels = detail::fetch_for_kernels(request, paths, kernel, releases);
  std::vector<std::unique_ptr<ExtensionBuild>> builds;
  for (auto& k : report.kernels) {
    const std::string& release = k.record.kernel_release;
    const auto earlier = records.find(release, k.record.package);
    if (extension_current(paths, earlier, k.record)) {
      k.unchanged = true;
      k.record = *earlier;
      continue;
    }
    const auto others = others_than(records, release, {k.record.package});
    check_conflicts(k.record, others);
    auto build = std::make_unique<ExtensionBuild>(paths, release, k.record.arch);
    for (const auto& other : others) build->keep(other);
    build->add(k.record);
    if (earlier) {
      for (const auto& file : earlier->files) k.replaced.push_back(file.path);
    }
    build->index();
    builds.push_back(std::move(build));
  }
  for (auto& build : builds) build->commit();
  for (const auto& k : report.kernels) {
    if (!k.unchanged) records.write(k.record);
  }
  for (const auto& k : report.kernels) {
    const auto notes = detail::write_module_options(paths, k.fetched);
    report.notes.insert(report.notes.end(), notes.begin(), notes.end());
  }
  for (auto& build : builds) build->keep_committed();
  if (!builds.empty()) report.notes.push_back(refresh(paths));
  return report;
}

std::vector<ConfiguredInstall> install_sysext_configured(const fs::path& directory, const std::vector<fs::path>& trust,
                                                         const std::vector<std::string>& kernel_releases,
                                                         const InstallPaths& paths, Kernel& kernel) {
  return for_each_boot_entry<InstallReport>(directory, trust, [&](const BootEntry& entry) {
    return install_sysext(InstallRequest{.load = entry.request, .kernel_releases = kernel_releases}, paths, kernel);
  });
}

UninstallReport uninstall_sysext(const std::vector<std::string>& names, const std::vector<std::string>& kernel_releases,
                                 const InstallPaths& paths) {
  InstallRecords records(paths.sysext_records_dir);
  const StateLock lock = records.lock();
  const auto chosen = detail::choose_records(records, names, kernel_releases);
  std::map<std::string, std::set<std::string>> leaving;  // release -> packages
  for (const auto& record : chosen) leaving[record.kernel_release].insert(record.package);
  // Old trees go when these do, after the refresh: overlayfs must not lose a mounted layer.
  std::vector<std::unique_ptr<TempDir>> removed;
  std::vector<std::unique_ptr<ExtensionBuild>> builds;
  for (const auto& [release, packages] : leaving) {
    const auto staying = others_than(records, release, packages);
    std::error_code ec;
    if (staying.empty() || !fs::is_directory(modules_below(paths.root, release), ec)) continue;
    auto build = std::make_unique<ExtensionBuild>(paths, release, staying.front().arch);
    for (const auto& record : staying) build->keep(record);
    build->index();
    builds.push_back(std::move(build));
  }
  for (auto& build : builds) build->commit();
  for (const auto& [release, packages] : leaving) {
    if (others_than(records, release, packages).empty()) removed.push_back(remove_extension(paths, release));
  }
  UninstallReport report;
  for (const auto& record : chosen) {
    records.erase(record.kernel_release, record.package);
    UninstalledPackage done{
        .package = record.package, .version = record.version, .kernel_release = record.kernel_release};
    for (const auto& file : record.files) done.removed.push_back(file.path);
    report.packages.push_back(std::move(done));
  }
  for (auto& build : builds) build->keep_committed();
  for (const auto& record : chosen) {
    if (!detail::installed_anywhere(records, record.package)) detail::remove_module_options(paths, record);
  }
  if (!chosen.empty()) report.notes.push_back(refresh(paths));
  return report;
}

}  // namespace ckms::loader
