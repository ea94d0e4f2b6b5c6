// install() and uninstall(): the checks come first and change nothing; then each kernel's
// change is a Transaction that backs up what it replaces and puts everything back unless
// the whole install succeeded.

#include "ckms/loader/install.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "ckms/artifact/names.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/process.hpp"
#include "ckms/base/time.hpp"
#include "ckms/kmod/compress.hpp"
#include "ckms/loader/boot_config.hpp"
#include "ckms/loader/initramfs.hpp"
#include "install_steps.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;
using nlohmann::json;

fs::path InstallPaths::release_dir(std::string_view release) const { return root / "lib" / "modules" / release; }

json InstallReport::to_json() const {
  json kernels_json = json::array();
  for (const auto& k : kernels) {
    kernels_json.push_back({{"record", k.record.to_json()},
                            {"replaced", k.replaced},
                            {"unchanged", k.unchanged},
                            {"initramfsStale", k.initramfs_stale},
                            {"initramfsCommand", k.initramfs_command},
                            {"fromCache", k.fetched.from_cache},
                            {"milliseconds",
                             {{"trust", k.fetched.milliseconds.trust},
                              {"resolve", k.fetched.milliseconds.resolve},
                              {"fetch", k.fetched.milliseconds.fetch},
                              {"verify", k.fetched.milliseconds.verify},
                              {"depmod", k.depmod_ms}}}});
  }
  return {{"source", source}, {"kernels", kernels_json}, {"notes", notes}};
}

json UninstallReport::to_json() const {
  json out = json::array();
  for (const auto& p : packages) {
    out.push_back({{"package", p.package},
                   {"version", p.version},
                   {"kernelRelease", p.kernel_release},
                   {"removed", p.removed},
                   {"leftChanged", p.left_changed}});
  }
  return {{"packages", out}, {"notes", notes}, {"initramfsStale", initramfs_stale}};
}

namespace {

// Not ending in .ko[.xz|.zst]: depmod, which runs while the backups exist, must not index them.
constexpr std::string_view kBackupSuffix = ".ckms-backup";

// One kernel's change, undone when destroyed unless kept: the files it wrote go, the files
// it replaced or removed come back from their backups (hard links beside them), the
// package's record is what it was, and depmod indexes the tree again.
class Transaction {
 public:
  Transaction(const InstallPaths& paths, std::string release, InstallRecords& records)
      : paths_(paths), release_(std::move(release)), records_(records), dir_(paths.release_dir(release_)) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (!kept_) rollback();
  }

  // Creates updates/ckms, remembering which directories were new so that rollback and
  // uninstall leave the tree as it was.
  void own_directory() {
    fs::path dir = dir_;
    for (const auto& part : fs::path(kInstallSubdir)) {
      dir /= part;
      std::error_code ec;
      if (fs::create_directory(dir, ec)) created_dirs_.push_back(dir);
      if (ec) fail(ErrorKind::io, "cannot create {}: {}", dir.string(), ec.message());
    }
  }

  void back_up(const fs::path& file) {
    const fs::path backup = file.parent_path() / ("." + file.filename().string() + std::string(kBackupSuffix));
    std::error_code ec;
    fs::remove(backup, ec);
    if (::link(file.c_str(), backup.c_str()) != 0) fail_errno("cannot keep a copy of " + file.string());
    backups_.emplace_back(file, backup);
  }

  void write(const fs::path& target, const InstalledFile& file) {
    written_.push_back(target);
    detail::write_verified(target, paths_, file);
  }

  void remove(const fs::path& file) {
    back_up(file);
    if (::unlink(file.c_str()) != 0) fail_errno("cannot remove " + file.string());
  }

  void depmod() {
    depmod_ran_ = true;
    detail::run_depmod(paths_.root, release_);
  }

  void record(const InstallRecord& record, std::optional<InstallRecord> earlier) {
    earlier_ = std::move(earlier);
    package_ = record.package;
    records_.write(record);
    recorded_ = true;
  }

  void keep() {
    kept_ = true;
    std::error_code ec;
    for (const auto& [file, backup] : backups_) fs::remove(backup, ec);
  }

 private:
  void rollback() noexcept {
    std::error_code ec;
    for (const auto& file : written_) fs::remove(file, ec);
    for (const auto& [file, backup] : backups_) fs::rename(backup, file, ec);
    for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it) fs::remove(*it, ec);
    try {
      if (recorded_ && earlier_) records_.write(*earlier_);
      if (recorded_ && !earlier_) records_.erase(release_, package_);
      if (depmod_ran_) detail::run_depmod(paths_.root, release_);
    } catch (const Error&) {
      // The error being handled is what the caller reports; this one would hide it.
    }
  }

  const InstallPaths& paths_;
  std::string release_;
  InstallRecords& records_;
  fs::path dir_;
  std::vector<fs::path> created_dirs_;
  std::vector<std::pair<fs::path, fs::path>> backups_;
  std::vector<fs::path> written_;
  std::optional<InstallRecord> earlier_;
  std::string package_;
  bool recorded_ = false;
  bool depmod_ran_ = false;
  bool kept_ = false;
};

// Who owns each path below the kernel's directory, by the records: path -> (package, digest).
std::map<std::string, std::pair<std::string, ckms::Digest>> owners(const InstallRecords& records,
                                                                   const std::string& release) {
  std::map<std::string, std::pair<std::string, ckms::Digest>> out;
  for (const auto& record : records.records(release)) {
    for (const auto& file : record.files) out.emplace(file.path, std::make_pair(record.package, file.digest));
  }
  return out;
}

// Everything that would refuse the install, before anything changes: a file in the way
// that ckms did not put there (or that changed since), or one another package installed.
void check_targets(const InstallRecord& wanted, const InstallRecords& records, const fs::path& release_dir) {
  const auto owned = owners(records, wanted.kernel_release);
  for (const auto& file : wanted.files) {
    const fs::path target = release_dir / file.path;
    const auto owner = owned.find(file.path);
    if (owner != owned.end() && owner->second.first != wanted.package) {
      fail(ErrorKind::refused, "{} belongs to package {}, which ckms installed: `ckms uninstall {} --kernel {}` first",
           target.string(), owner->second.first, owner->second.first, wanted.kernel_release);
    }
    if (!detail::exists_or_link(target)) continue;
    if (owner == owned.end() || digest_of_installed(target) != owner->second.second) {
      fail(ErrorKind::refused,
           "{} is in the way and ckms did not put it there{}: remove it, or uninstall what installed it; nothing was "
           "installed",
           target.string(), owner == owned.end() ? "" : " (it changed since ckms installed it)");
    }
  }
}

// Places one kernel's files; the returned transaction is undone unless kept.
std::unique_ptr<Transaction> place(const InstallPaths& paths, InstallRecords& records, KernelInstall& result,
                                   const std::optional<InstallRecord>& earlier) {
  const InstallRecord& wanted = result.record;
  const fs::path release_dir = paths.release_dir(wanted.kernel_release);
  auto transaction = std::make_unique<Transaction>(paths, wanted.kernel_release, records);
  transaction->own_directory();
  for (const auto& file : wanted.files) {
    const fs::path target = release_dir / file.path;
    if (detail::exists_or_link(target)) {
      transaction->back_up(target);
      result.replaced.push_back(file.path);
    }
    transaction->write(target, file);
  }
  if (earlier) {
    for (const auto& old : earlier->files) {
      const bool kept = std::any_of(wanted.files.begin(), wanted.files.end(),
                                    [&](const InstalledFile& f) { return f.path == old.path; });
      // A file that is no longer what ckms wrote is someone else's now.
      if (kept || digest_of_installed(release_dir / old.path) != old.digest) continue;
      transaction->remove(release_dir / old.path);
      result.replaced.push_back(old.path);
    }
  }
  const auto started = std::chrono::steady_clock::now();
  transaction->depmod();
  result.depmod_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  transaction->record(wanted, earlier);
  return transaction;
}

// Builds the initramfs of each release again; returns the commands run, in order. The
// change stays whatever happens here (its modules are in place for modprobe once the root
// is mounted), but an early userspace without it is an error: every release has its turn,
// then the first failure is reported with what is done and what to run once it is fixed.
std::vector<std::vector<std::string>> rebuild_initramfs(const std::vector<std::string>& releases, const fs::path& root,
                                                        const std::string& done) {
  std::vector<std::vector<std::string>> commands;
  std::optional<Error> first;
  for (const auto& release : releases) {
    try {
      commands.push_back(regenerate_initramfs(root, release));
    } catch (const Error& e) {
      if (!first) {
        first = Error(e.kind(), fmt::format("{} for {}, but its initramfs was not built again: {}; the next boot's "
                                            "early userspace does not have the change until it is",
                                            done, release, e.what()));
      }
      commands.emplace_back();
    }
  }
  if (first) throw *first;
  return commands;
}

// Marks each kernel whose early-boot files change with this install, before anything is
// placed; `earlier` is the package's record for that kernel.
void note_early_change(KernelInstall& k, const std::optional<InstallRecord>& earlier, bool early) {
  k.record.initramfs = early;
  const bool was_early = earlier && earlier->initramfs;
  k.initramfs_stale = k.unchanged ? was_early != early : early || was_early;
}

// Removes updates/ckms and updates when nothing else is in them, as they were before ckms.
void remove_empty_own_directories(const fs::path& release_dir) {
  std::error_code ec;
  fs::path dir = release_dir / kInstallSubdir;
  while (dir != release_dir) {
    if (!fs::is_empty(dir, ec) || ec || !fs::remove(dir, ec)) return;
    dir = dir.parent_path();
  }
}

}  // namespace

namespace {

void rebuild_stale_initramfs(InstallReport& report, const fs::path& root) {
  std::vector<KernelInstall*> stale;
  std::vector<std::string> releases;
  for (auto& k : report.kernels) {
    if (!k.initramfs_stale) continue;
    stale.push_back(&k);
    releases.push_back(k.record.kernel_release);
  }
  if (releases.empty()) return;
  const auto& record = stale.front()->record;
  const auto commands =
      rebuild_initramfs(releases, root, fmt::format("{} {} is installed", record.package, record.version));
  for (std::size_t i = 0; i < stale.size(); ++i) stale[i]->initramfs_command = commands[i];
}

}  // namespace

InstallReport install(const InstallRequest& request, const InstallPaths& paths, Kernel& kernel) {
  std::vector<std::string> releases = request.kernel_releases;
  if (releases.empty()) releases.push_back(kernel.release());
  for (const auto& release : releases) detail::check_installed_kernel(paths.release_dir(release), release);

  InstallRecords records(paths.records_dir);
  const StateLock lock = records.lock();
  InstallReport report{.source = request.load.reference.str()};
  report.kernels = detail::fetch_for_kernels(request, paths, kernel, releases);
  std::vector<std::unique_ptr<Transaction>> transactions;
  for (auto& k : report.kernels) {
    const fs::path release_dir = paths.release_dir(k.record.kernel_release);
    const auto earlier = records.find(k.record.kernel_release, k.record.package);
    if (detail::already_installed(earlier, k.record, release_dir)) {
      k.unchanged = true;
      k.record = *earlier;
      note_early_change(k, earlier, request.initramfs);
      continue;
    }
    note_early_change(k, earlier, request.initramfs);
    check_targets(k.record, records, release_dir);
    transactions.push_back(place(paths, records, k, earlier));
  }
  for (const auto& k : report.kernels) {
    const auto notes = detail::write_module_options(paths, k.fetched);
    report.notes.insert(report.notes.end(), notes.begin(), notes.end());
  }
  for (auto& transaction : transactions) transaction->keep();
  // Only the early-boot mark changed: the files are as they were, the record alone says it.
  for (const auto& k : report.kernels) {
    if (k.unchanged && k.initramfs_stale) records.write(k.record);
  }
  if (request.update_initramfs) rebuild_stale_initramfs(report, paths.root);
  return report;
}

std::vector<ConfiguredInstall> install_configured(const fs::path& directory, const std::vector<fs::path>& trust,
                                                  const std::vector<std::string>& kernel_releases,
                                                  bool update_initramfs, const InstallPaths& paths, Kernel& kernel) {
  return for_each_boot_entry<InstallReport>(directory, trust, [&](const BootEntry& entry) {
    return install(InstallRequest{.load = entry.request,
                                  .kernel_releases = kernel_releases,
                                  .initramfs = entry.initramfs,
                                  .update_initramfs = update_initramfs},
                   paths, kernel);
  });
}

namespace {

std::vector<std::string> installed_kernels(const InstallPaths& paths) {
  std::vector<std::string> releases;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(paths.release_dir(""), ec)) {
    if (entry.is_directory()) releases.push_back(entry.path().filename().string());
  }
  std::sort(releases.begin(), releases.end());
  return releases;
}

std::vector<std::string> kernels_without(const InstallRecords& records, const std::string& source,
                                         const std::vector<std::string>& releases) {
  std::vector<std::string> missing;
  for (const auto& release : releases) {
    const auto installed = records.records(release);
    const bool from_source =
        std::any_of(installed.begin(), installed.end(), [&](const auto& record) { return record.source == source; });
    if (!from_source) missing.push_back(release);
  }
  return missing;
}

}  // namespace

std::vector<ConfiguredInstall> install_missing(const fs::path& directory, const std::vector<fs::path>& trust,
                                               const std::vector<std::string>& kernel_releases, bool update_initramfs,
                                               const InstallPaths& paths, Kernel& kernel) {
  const auto releases = kernel_releases.empty() ? installed_kernels(paths) : kernel_releases;
  const InstallRecords records(paths.records_dir);
  return for_each_boot_entry<InstallReport>(directory, trust, [&](const BootEntry& entry) {
    const auto missing = kernels_without(records, entry.request.reference.str(), releases);
    if (missing.empty()) return InstallReport{.source = entry.request.reference.str(), .kernels = {}};
    return install(InstallRequest{.load = entry.request,
                                  .kernel_releases = missing,
                                  .initramfs = entry.initramfs,
                                  .update_initramfs = update_initramfs},
                   paths, kernel);
  });
}

UninstallReport uninstall(const std::vector<std::string>& names, const std::vector<std::string>& kernel_releases,
                          const InstallPaths& paths, bool update_initramfs) {
  InstallRecords records(paths.records_dir);
  const StateLock lock = records.lock();
  const auto chosen = detail::choose_records(records, names, kernel_releases);
  UninstallReport report;
  std::vector<std::string> changed_releases;
  for (const auto& record : chosen) {
    UninstalledPackage done{
        .package = record.package, .version = record.version, .kernel_release = record.kernel_release};
    const fs::path release_dir = paths.release_dir(record.kernel_release);
    for (const auto& file : record.files) {
      const fs::path path = release_dir / file.path;
      if (!detail::exists_or_link(path)) continue;
      if (digest_of_installed(path) != file.digest) {
        done.left_changed.push_back(file.path);
        continue;
      }
      if (::unlink(path.c_str()) != 0) fail_errno("cannot remove " + path.string());
      done.removed.push_back(file.path);
    }
    records.erase(record.kernel_release, record.package);
    std::error_code ec;
    if (fs::is_directory(release_dir, ec)) {
      remove_empty_own_directories(release_dir);
      if (changed_releases.empty() || changed_releases.back() != record.kernel_release) {
        changed_releases.push_back(record.kernel_release);
      }
      auto& stale = report.initramfs_stale;
      if (record.initramfs && (stale.empty() || stale.back() != record.kernel_release)) {
        stale.push_back(record.kernel_release);
      }
    }
    report.packages.push_back(std::move(done));
  }
  for (const auto& release : changed_releases) detail::run_depmod(paths.root, release);
  for (const auto& record : chosen) {
    if (!detail::installed_anywhere(records, record.package)) detail::remove_module_options(paths, record);
  }
  if (update_initramfs) rebuild_initramfs(report.initramfs_stale, paths.root, "the early-boot modules are uninstalled");
  return report;
}

}  // namespace ckms::loader
