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
  return {{"source", source}, {"kernels", kernels_json}};
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
  return {{"packages", out}, {"initramfsStale", initramfs_stale}};
}

namespace {

// Not ending in .ko[.xz|.zst]: depmod, which runs while the backups exist, must not index them.
constexpr std::string_view kBackupSuffix = ".ckms-backup";

// depmod owns the index format; ckms only asks it to index the tree again.
void run_depmod(const InstallPaths& paths, const std::string& release) {
  std::vector<std::string> argv{"depmod", "-a"};
  if (paths.root != "/") argv.insert(argv.end(), {"-b", paths.root.string()});
  argv.push_back(release);
  const auto result = ckms::run_process(argv, "/");
  if (result.exit_code != 0) {
    fail(ErrorKind::io, "depmod -a {} failed (exit {}): {}", release, result.exit_code, result.err);
  }
}

bool exists_or_link(const fs::path& file) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(file, ec));
}

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

  void write(const fs::path& target, const fs::path& blob, const InstalledFile& file, std::int64_t size) {
    ckms::AtomicFile out(target);
    ckms::FileReader in(blob);
    out.write_from(in);
    written_.push_back(target);
    // Re-hashed on the way: what lands is exactly the verified bytes.
    out.commit(file.digest, size, 0644);
  }

  void remove(const fs::path& file) {
    back_up(file);
    if (::unlink(file.c_str()) != 0) fail_errno("cannot remove " + file.string());
  }

  void depmod() {
    depmod_ran_ = true;
    run_depmod(paths_, release_);
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
      if (depmod_ran_) run_depmod(paths_, release_);
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

InstallRecord record_for(const LoadReport& fetched) {
  InstallRecord record{.package = fetched.package,
                       .version = fetched.version,
                       .kernel_release = fetched.kernel_release,
                       .arch = fetched.arch,
                       .source = fetched.source,
                       .manifest = fetched.manifest,
                       .installed_at = rfc3339_now()};
  for (const auto& m : fetched.modules) {
    record.files.push_back(InstalledFile{.path = std::string(kInstallSubdir) + "/" + m.file,
                                         .module = m.module,
                                         .digest = m.digest,
                                         .signer = m.signer});
  }
  return record;
}

// Who owns each path below the kernel's directory, by the records: path -> (package, digest).
std::map<std::string, std::pair<std::string, ckms::Digest>> owners(const InstallRecords& records,
                                                                   const std::string& release) {
  std::map<std::string, std::pair<std::string, ckms::Digest>> out;
  for (const auto& record : records.records(release)) {
    for (const auto& file : record.files) out.emplace(file.path, std::make_pair(record.package, file.digest));
  }
  return out;
}

// The same artifact's files are all in place, as ckms wrote them.
bool already_installed(const std::optional<InstallRecord>& earlier, const InstallRecord& wanted,
                       const fs::path& release_dir) {
  if (!earlier || earlier->manifest != wanted.manifest || earlier->files.size() != wanted.files.size()) return false;
  for (const auto& file : earlier->files) {
    if (digest_of_installed(release_dir / file.path) != file.digest) return false;
  }
  return true;
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
    if (!exists_or_link(target)) continue;
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
  ModuleCache cache(paths.cache_dir);
  for (std::size_t i = 0; i < wanted.files.size(); ++i) {
    const auto& file = wanted.files[i];
    const fs::path target = release_dir / file.path;
    if (exists_or_link(target)) {
      transaction->back_up(target);
      result.replaced.push_back(file.path);
    }
    const auto& layer = result.fetched.modules[i];
    transaction->write(target, cache.layout().blob_path(layer.digest), file,
                       static_cast<std::int64_t>(fs::file_size(cache.layout().blob_path(layer.digest))));
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

void check_installed_kernel(const InstallPaths& paths, const std::string& release) {
  const fs::path dir = paths.release_dir(release);
  std::error_code ec;
  if (!artifact::is_plain_token(release) || !fs::is_directory(dir, ec)) {
    fail(ErrorKind::not_found, "kernel {} is not installed: {} is not a directory (--kernel names an installed kernel)",
         release, dir.string());
  }
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
  for (const auto& release : releases) check_installed_kernel(paths, release);

  InstallRecords records(paths.records_dir);
  const StateLock lock = records.lock();
  InstallReport report{.source = request.load.reference.str()};
  // Fetch and verify for every kernel before any file is placed.
  for (const auto& release : releases) {
    LoadRequest load = request.load;
    load.kernel_release = release;
    load.fetch_only = true;
    LoadReport fetched = loader::load(
        load,
        LoaderPaths{
            .cache_dir = paths.cache_dir, .modules_root = paths.root / "lib" / "modules", .trust_dir = paths.trust_dir},
        kernel);
    KernelInstall k{.record = record_for(fetched), .fetched = std::move(fetched)};
    report.kernels.push_back(std::move(k));
  }
  std::vector<std::unique_ptr<Transaction>> transactions;
  for (auto& k : report.kernels) {
    const fs::path release_dir = paths.release_dir(k.record.kernel_release);
    const auto earlier = records.find(k.record.kernel_release, k.record.package);
    if (already_installed(earlier, k.record, release_dir)) {
      k.unchanged = true;
      k.record = *earlier;
      note_early_change(k, earlier, request.initramfs);
      continue;
    }
    note_early_change(k, earlier, request.initramfs);
    check_targets(k.record, records, release_dir);
    transactions.push_back(place(paths, records, k, earlier));
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

UninstallReport uninstall(const std::vector<std::string>& names, const std::vector<std::string>& kernel_releases,
                          const InstallPaths& paths, bool update_initramfs) {
  InstallRecords records(paths.records_dir);
  const StateLock lock = records.lock();
  const std::vector<std::string> releases = kernel_releases.empty() ? records.releases() : kernel_releases;
  std::vector<InstallRecord> chosen;
  std::vector<bool> matched(names.size(), false);
  for (const auto& release : releases) {
    for (auto& record : records.records(release)) {
      bool wanted = names.empty();
      for (std::size_t i = 0; i < names.size(); ++i) {
        const bool names_it =
            record.package == names[i] || std::any_of(record.files.begin(), record.files.end(), [&](const auto& f) {
              return f.module == kmod::normalize_module_name(names[i]);
            });
        if (names_it) matched[i] = true;
        wanted = wanted || names_it;
      }
      if (wanted) chosen.push_back(std::move(record));
    }
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!matched[i]) {
      fail(ErrorKind::not_found, "no package or module '{}' was installed by ckms{} (`ckms status` lists what was)",
           names[i], kernel_releases.empty() ? "" : " for the kernels named");
    }
  }

  UninstallReport report;
  std::vector<std::string> changed_releases;
  for (const auto& record : chosen) {
    UninstalledPackage done{
        .package = record.package, .version = record.version, .kernel_release = record.kernel_release};
    const fs::path release_dir = paths.release_dir(record.kernel_release);
    for (const auto& file : record.files) {
      const fs::path path = release_dir / file.path;
      if (!exists_or_link(path)) continue;
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
  for (const auto& release : changed_releases) run_depmod(paths, release);
  if (update_initramfs) rebuild_initramfs(report.initramfs_stale, paths.root, "the early-boot modules are uninstalled");
  return report;
}

}  // namespace ckms::loader
