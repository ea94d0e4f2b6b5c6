// `ckms install REPO:VERSION | --all [--kernel R]... [--root DIR]`, `ckms uninstall NAME... |
// --all`, `ckms gc [--dry-run]`: wiring to loader/install.hpp and loader/gc.hpp, which
// decide everything.
#include "install.hpp"

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ckms/loader/boot_config.hpp"
#include "ckms/loader/gc.hpp"
#include "ckms/loader/install.hpp"
#include "ckms/loader/sysext.hpp"
#include "ckms/oci/printable.hpp"
#include "configured.hpp"
#include "load.hpp"

namespace ckms::cli {
namespace fs = std::filesystem;

namespace {

struct InstallPathArgs {
  std::string root{"/"};
  std::string cache_dir;
  std::string records_dir;

  fs::path under_root(std::string_view absolute) const { return fs::path(root) / fs::path(absolute).relative_path(); }

  // Under --root unless named: a root's tree, cache, records, trust and configuration
  // belong together.
  loader::InstallPaths paths() const {
    // Absolute: depmod runs from "/", so a relative --root would name another directory.
    return loader::InstallPaths{
        .root = fs::absolute(root),
        .cache_dir = cache_dir.empty() ? under_root(loader::kDefaultCacheDir) : fs::path(cache_dir),
        .records_dir = records_dir.empty() ? under_root(loader::kDefaultInstallRecordsDir) : fs::path(records_dir),
        .trust_dir = under_root(loader::kDefaultTrustDir),
        .sysext_records_dir = under_root(loader::kDefaultSysextRecordsDir)};
  }
};

void add_path_options(CLI::App* command, InstallPathArgs& args) {
  command->add_option("--root", args.root, "Install into DIR/lib/modules (depmod -b DIR)")->capture_default_str();
  command
      ->add_option("--cache-dir", args.cache_dir,
                   "OCI layout that caches fetched artifacts (default: ROOT/var/lib/ckms)")
      ->envname("CKMS_CACHE_DIR");
  command
      ->add_option("--installed-dir", args.records_dir,
                   fmt::format("Records of what ckms installed (default: ROOT{})", loader::kDefaultInstallRecordsDir))
      ->envname("CKMS_INSTALLED_DIR");
}

struct InstallArgs {
  LoadArgs load;  // reference, trust, network mode, registry flags
  std::vector<std::string> kernels;
  bool sysext = false;
  bool initramfs = false;
  bool no_initramfs = false;
  InstallPathArgs paths;
  bool retry_missing = false;
};

void print_notes(const std::vector<std::string>& notes) {
  for (const auto& note : notes) fmt::print("{}\n", oci::printable(note));
}

void print_initramfs_command(const std::string& release, const std::vector<std::string>& command) {
  fmt::print("  initramfs of {} built again: {}\n", release,
             oci::printable(fmt::format("{}", fmt::join(command, " "))));
}

void print_install_report(const loader::InstallReport& report) {
  for (const auto& k : report.kernels) {
    const auto& r = k.record;
    fmt::print("{} {} {} for {} from {} ({})\n", k.unchanged ? "already installed" : "installed",
               oci::printable(r.package), oci::printable(r.version), r.kernel_release,
               k.fetched.from_cache ? "the cache" : oci::printable(report.source), r.manifest.str());
    for (const auto& f : r.files) {
      fmt::print("  {}: {}, signed by {}\n", oci::printable(f.module), oci::printable(f.path),
                 oci::printable(f.signer));
    }
    for (const auto& f : k.replaced) fmt::print("  {}: replaced (earlier install)\n", oci::printable(f));
    if (r.initramfs)
      fmt::print("  needed in early boot: the initramfs hooks put it into {}'s initramfs\n", r.kernel_release);
    if (!k.initramfs_command.empty()) print_initramfs_command(r.kernel_release, k.initramfs_command);
  }
  print_notes(report.notes);
}

void run_configured(App& app, const InstallArgs& args, loader::Kernel& kernel) {
  const fs::path dir = args.paths.under_root(loader::kDefaultConfigDir);
  const std::vector<fs::path> trust{args.load.trust.begin(), args.load.trust.end()};
  const bool update_initramfs = !args.no_initramfs;
  const auto paths = args.paths.paths();
  const auto reports = args.sysext ? loader::install_sysext_configured(dir, trust, args.kernels, paths, kernel)
                       : args.retry_missing
                           ? loader::install_missing(dir, trust, args.kernels, update_initramfs, paths, kernel)
                           : loader::install_configured(dir, trust, args.kernels, update_initramfs, paths, kernel);
  report_configured(app, dir, reports, print_install_report);
}

void run_install(App& app, const InstallArgs& args) {
  if (args.load.all == !args.load.reference.empty())
    fail(ErrorKind::usage, "name one artifact (REPO:VERSION), or --all");
  if (args.load.offline && args.load.offline_fallback)
    fail(ErrorKind::usage, "--offline and --offline-fallback exclude each other");
  if (args.retry_missing && !args.load.all) fail(ErrorKind::usage, "--retry-missing goes with --all");
  if (args.load.all && args.initramfs)
    fail(ErrorKind::usage, "--initramfs names one artifact; with --all, each file's 'initramfs: true' says it");
  if (args.sysext && args.initramfs)
    fail(ErrorKind::usage, "--initramfs puts /lib/modules files into the initramfs; --sysext writes none");
  loader::LinuxKernel kernel;
  if (args.load.all) {
    run_configured(app, args, kernel);
    return;
  }
  const loader::InstallRequest request{.load = request_from(args.load),
                                       .kernel_releases = args.kernels,
                                       .initramfs = args.initramfs,
                                       .update_initramfs = !args.no_initramfs};
  const auto report = args.sysext ? loader::install_sysext(request, args.paths.paths(), kernel)
                                  : loader::install(request, args.paths.paths(), kernel);
  if (app.options().json) {
    print_json(report.to_json());
    return;
  }
  print_install_report(report);
}

struct UninstallArgs {
  std::vector<std::string> names;
  bool all = false;
  bool sysext = false;
  bool no_initramfs = false;
  std::vector<std::string> kernels;
  InstallPathArgs paths;
};

void run_uninstall(App& app, const UninstallArgs& args) {
  if (args.all == !args.names.empty()) fail(ErrorKind::usage, "name the packages or modules to uninstall, or --all");
  const auto report = args.sysext ? loader::uninstall_sysext(args.names, args.kernels, args.paths.paths())
                                  : loader::uninstall(args.names, args.kernels, args.paths.paths(), !args.no_initramfs);
  if (app.options().json) {
    print_json(report.to_json());
    return;
  }
  for (const auto& p : report.packages) {
    fmt::print("uninstalled {} {} from {}\n", oci::printable(p.package), oci::printable(p.version), p.kernel_release);
    for (const auto& f : p.removed) fmt::print("  {}: removed\n", oci::printable(f));
    for (const auto& f : p.left_changed) {
      fmt::print("  {}: left in place, it changed since ckms installed it\n", oci::printable(f));
    }
  }
  print_notes(report.notes);
  for (const auto& release : report.initramfs_stale) {
    if (args.no_initramfs) {
      fmt::print("  initramfs of {} still holds the early-boot modules (--no-initramfs-update)\n", release);
    } else {
      fmt::print("  initramfs of {} built again\n", release);
    }
  }
}

struct GcArgs {
  InstallPathArgs paths;
  std::string state_dir{loader::kDefaultStateDir};
  bool dry_run = false;
};

void run_gc(App& app, const GcArgs& args) {
  const auto install_paths = args.paths.paths();
  const auto report =
      loader::collect_garbage(loader::GcPaths{.root = install_paths.root,
                                              .cache_dir = install_paths.cache_dir,
                                              .records_dir = install_paths.records_dir,
                                              .state_dir = args.state_dir,
                                              .config_dir = args.paths.under_root(loader::kDefaultConfigDir)},
                              args.dry_run);
  if (app.options().json) {
    print_json(report.to_json());
    return;
  }
  const std::string_view verb = args.dry_run ? "would remove" : "removed";
  for (const auto& a : report.removed) fmt::print("{} {} ({})\n", verb, oci::printable(a.name), a.manifest.str());
  for (const auto& a : report.kept) fmt::print("kept {}: {}\n", oci::printable(a.name), oci::printable(a.why));
  fmt::print("{} {} artifacts, {} blobs\n", verb, report.removed.size(), report.blobs);
}

}  // namespace

void register_install_commands(App& app) {
  auto& root = app.root();

  auto install_args = std::make_shared<InstallArgs>();
  auto* install = root.add_subcommand(
      "install", "Fetch, verify and install a module artifact into /lib/modules/<release>/updates/ckms, then depmod");
  install->add_option("REF", install_args->load.reference, "REPO:VERSION or oci:DIR:VERSION");
  install->add_flag("--all", install_args->load.all,
                    fmt::format("Install every artifact configured in ROOT{}", loader::kDefaultConfigDir));
  install->add_option("--kernel", install_args->kernels,
                      "Installed kernel release to install for; repeatable (default: uname -r; with "
                      "--retry-missing every installed kernel)");
  auto* retry_missing =
      install->add_flag("--retry-missing", install_args->retry_missing,
                        "With --all: only what is not installed yet from each entry's reference, for every installed "
                        "kernel (what a kernel hook found unpublished)");
  install->add_option("--trust", install_args->load.trust,
                      fmt::format("Trusted signing certificate (PEM/DER file or directory); repeatable (default: "
                                  "ROOT{})",
                                  loader::kDefaultTrustDir));
  install
      ->add_flag("--sysext", install_args->sysext,
                 fmt::format("Write a systemd system extension, ROOT{}/ckms-RELEASE, instead of /lib/modules "
                             "(read-only /usr: Flatcar, Fedora CoreOS)",
                             loader::kDefaultExtensionsDir))
      ->excludes(retry_missing);
  install->add_flag("--offline", install_args->load.offline, "Install from the cache only, without any registry");
  install->add_flag("--offline-fallback", install_args->load.offline_fallback,
                    "Use the cache when the registry cannot be reached");
  install->add_flag("--initramfs", install_args->initramfs,
                    "Needed in early boot: put it into the kernel's initramfs, which is built again now");
  install->add_flag("--no-initramfs-update", install_args->no_initramfs,
                    "Do not build the initramfs again (the kernel packages' hooks, which build it next)");
  add_path_options(install, install_args->paths);
  add_registry_flags(install, install_args->load.registry);
  app.on(install, [&app, install_args] { run_install(app, *install_args); });

  auto uninstall_args = std::make_shared<UninstallArgs>();
  auto* uninstall =
      root.add_subcommand("uninstall", "Remove what ckms installed, by package or module name, then depmod");
  uninstall->add_option("NAME", uninstall_args->names, "Package or module name");
  uninstall->add_flag("--all", uninstall_args->all, "Remove everything ckms installed");
  uninstall->add_flag("--sysext", uninstall_args->sysext, "Remove from the system extensions `install --sysext` wrote");
  uninstall->add_option("--kernel", uninstall_args->kernels,
                        "Kernel release to uninstall from; repeatable (default: every kernel)");
  uninstall->add_flag("--no-initramfs-update", uninstall_args->no_initramfs,
                      "Do not build the initramfs again after removing an early-boot module");
  add_path_options(uninstall, uninstall_args->paths);
  app.on(uninstall, [&app, uninstall_args] { run_uninstall(app, *uninstall_args); });

  auto gc_args = std::make_shared<GcArgs>();
  auto* gc = root.add_subcommand(
      "gc", "Remove cached artifacts that nothing installed, loaded or configured for an installed kernel needs");
  gc->add_flag("--dry-run", gc_args->dry_run, "Say what would be removed, remove nothing");
  gc->add_option("--state-dir", gc_args->state_dir, "Where records of loaded modules are kept")->capture_default_str();
  add_path_options(gc, gc_args->paths);
  app.on(gc, [&app, gc_args] { run_gc(app, *gc_args); });
}

}  // namespace ckms::cli
