#include "install_steps.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "ckms/artifact/names.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/base/process.hpp"
#include "ckms/base/time.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "kernel_trust.hpp"

namespace ckms::loader::detail {
namespace fs = std::filesystem;

namespace {

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

fs::path options_file(const InstallPaths& paths, std::string_view module) {
  return paths.root / "etc" / "modprobe.d" / fmt::format("ckms-{}.conf", module);
}

// The first line says who wrote the file: uninstall removes only what names the package.
std::string options_header(std::string_view package) {
  return fmt::format("# Written by `ckms install` for package {}; `ckms uninstall` removes it.\n", package);
}

bool written_for(const fs::path& file, std::string_view package) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(file, ec))) return false;
  return ckms::read_file(file, 1 << 20).starts_with(options_header(package));
}

// The packages a fetch brings, build dependencies first (as `ckms load` inserts them), each
// package once per kernel: modprobe resolves the dependent's symbols through depmod only
// when the dependency is installed too.
void add_with_dependencies(std::vector<KernelInstall>& kernels, LoadReport fetched) {
  for (auto& dependency : fetched.build_dependencies) add_with_dependencies(kernels, std::move(dependency));
  fetched.build_dependencies.clear();
  const bool listed = std::any_of(kernels.begin(), kernels.end(), [&](const KernelInstall& k) {
    return k.record.kernel_release == fetched.kernel_release && k.record.package == fetched.package;
  });
  if (listed) return;
  KernelInstall k{.record = record_for(fetched), .fetched = std::move(fetched)};
  kernels.push_back(std::move(k));
}

// Only the running kernel's keys can be read; a module it would refuse is not installed for
// it, nor a build dependency installed with it.
void check_running_kernel_trusts(const LoadReport& fetched, Kernel& kernel) {
  for (const auto& dependency : fetched.build_dependencies) check_running_kernel_trusts(dependency, kernel);
  check_kernel_trusts(fetched.modules, kernel);
}

}  // namespace

void run_depmod(const fs::path& base, const std::string& release) {
  std::vector<std::string> argv{"depmod", "-a"};
  if (base != "/") argv.insert(argv.end(), {"-b", base.string()});
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

void check_installed_kernel(const fs::path& release_dir, const std::string& release) {
  std::error_code ec;
  if (!artifact::is_plain_token(release) || !fs::is_directory(release_dir, ec)) {
    fail(ErrorKind::not_found, "kernel {} is not installed: {} is not a directory (--kernel names an installed kernel)",
         release, release_dir.string());
  }
}

std::vector<KernelInstall> fetch_for_kernels(const InstallRequest& request, const InstallPaths& paths, Kernel& kernel,
                                             const std::vector<std::string>& releases) {
  std::vector<KernelInstall> out;
  for (const auto& release : releases) {
    LoadRequest load = request.load;
    load.kernel_release = release;
    load.fetch_only = true;
    LoadReport fetched = loader::load(
        load,
        LoaderPaths{
            .cache_dir = paths.cache_dir, .modules_root = paths.root / "lib" / "modules", .trust_dir = paths.trust_dir},
        kernel);
    if (release == kernel.release()) check_running_kernel_trusts(fetched, kernel);
    add_with_dependencies(out, std::move(fetched));
  }
  return out;
}

void write_verified(const fs::path& target, const InstallPaths& paths, const InstalledFile& file) {
  const fs::path blob = ModuleCache(paths.cache_dir).layout().blob_path(file.digest);
  ckms::AtomicFile out(target);
  ckms::FileReader in(blob);
  out.write_from(in);
  out.commit(file.digest, static_cast<std::int64_t>(fs::file_size(blob)), 0644);
}

bool already_installed(const std::optional<InstallRecord>& earlier, const InstallRecord& wanted,
                       const fs::path& release_dir) {
  if (!earlier || earlier->manifest != wanted.manifest || earlier->files.size() != wanted.files.size()) return false;
  for (const auto& file : earlier->files) {
    if (digest_of_installed(release_dir / file.path) != file.digest) return false;
  }
  return true;
}

std::vector<InstallRecord> choose_records(const InstallRecords& records, const std::vector<std::string>& names,
                                          const std::vector<std::string>& kernel_releases) {
  const auto names_package = [](const InstallRecord& record, std::string_view name) {
    return record.package == name || std::any_of(record.files.begin(), record.files.end(), [&](const auto& f) {
             return f.module == kmod::normalize_module_name(name);
           });
  };
  std::vector<InstallRecord> chosen;
  std::vector<bool> matched(names.size(), false);
  for (const auto& release : kernel_releases.empty() ? records.releases() : kernel_releases) {
    for (auto& record : records.records(release)) {
      bool wanted = names.empty();
      for (std::size_t i = 0; i < names.size(); ++i) {
        const bool names_it = names_package(record, names[i]);
        matched[i] = matched[i] || names_it;
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
  return chosen;
}

bool installed_anywhere(const InstallRecords& records, std::string_view package) {
  const auto releases = records.releases();
  return std::any_of(releases.begin(), releases.end(),
                     [&](const std::string& release) { return records.find(release, package).has_value(); });
}

std::vector<std::string> write_module_options(const InstallPaths& paths, const LoadReport& fetched) {
  std::vector<std::string> notes;
  for (const auto& module : fetched.modules) {
    if (module.parameters.empty()) continue;
    const fs::path file = options_file(paths, module.module);
    if (exists_or_link(file) && !written_for(file, fetched.package)) {
      notes.push_back(fmt::format("{} is not ckms's: left as it is, its options apply", file.string()));
      continue;
    }
    fs::create_directories(file.parent_path());
    ckms::AtomicFile out(file);
    out.write(options_header(fetched.package));
    out.write(fmt::format("options {} {}\n", module.module, artifact::kernel_parameters(module.parameters)));
    out.commit();
  }
  return notes;
}

void remove_module_options(const InstallPaths& paths, const InstallRecord& record) {
  for (const auto& file : record.files) {
    const fs::path options = options_file(paths, file.module);
    std::error_code ec;
    if (written_for(options, record.package)) fs::remove(options, ec);
  }
}

}  // namespace ckms::loader::detail
