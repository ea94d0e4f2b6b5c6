// `ckms install REPO:VERSION | --all [--kernel R]... [--root DIR]`, `ckms uninstall NAME... |
// --all`: wiring to loader/install.hpp, which decides everything.
#include "install.hpp"

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ckms/loader/boot_config.hpp"
#include "ckms/loader/install.hpp"
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
    return loader::InstallPaths{
        .root = root,
        .cache_dir = cache_dir.empty() ? under_root(loader::kDefaultCacheDir) : fs::path(cache_dir),
        .records_dir = records_dir.empty() ? under_root(loader::kDefaultInstallRecordsDir) : fs::path(records_dir),
        .trust_dir = under_root(loader::kDefaultTrustDir)};
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
  bool initramfs = false;
  bool no_initramfs = false;
  InstallPathArgs paths;
};

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
}

void run_configured(App& app, const InstallArgs& args, loader::Kernel& kernel) {
  const fs::path dir = args.paths.under_root(loader::kDefaultConfigDir);
  report_configured(app, dir,
                    loader::install_configured(dir, {args.load.trust.begin(), args.load.trust.end()}, args.kernels,
                                               !args.no_initramfs, args.paths.paths(), kernel),
                    print_install_report);
}

void run_install(App& app, const InstallArgs& args) {
  if (args.load.all == !args.load.reference.empty())
    fail(ErrorKind::usage, "name one artifact (REPO:VERSION), or --all");
  if (args.load.offline && args.load.offline_fallback)
    fail(ErrorKind::usage, "--offline and --offline-fallback exclude each other");
  if (args.load.all && args.initramfs)
    fail(ErrorKind::usage, "--initramfs names one artifact; with --all, each file's 'initramfs: true' says it");
  loader::LinuxKernel kernel;
  if (args.load.all) {
    run_configured(app, args, kernel);
    return;
  }
  const auto report = loader::install(loader::InstallRequest{.load = request_from(args.load),
                                                             .kernel_releases = args.kernels,
                                                             .initramfs = args.initramfs,
                                                             .update_initramfs = !args.no_initramfs},
                                      args.paths.paths(), kernel);
  if (app.options().json) {
    print_json(report.to_json());
    return;
  }
  print_install_report(report);
}

struct UninstallArgs {
  std::vector<std::string> names;
  bool all = false;
  bool no_initramfs = false;
  std::vector<std::string> kernels;
  InstallPathArgs paths;
};

void run_uninstall(App& app, const UninstallArgs& args) {
  if (args.all == !args.names.empty()) fail(ErrorKind::usage, "name the packages or modules to uninstall, or --all");
  const auto report = loader::uninstall(args.names, args.kernels, args.paths.paths(), !args.no_initramfs);
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
  for (const auto& release : report.initramfs_stale) {
    if (args.no_initramfs) {
      fmt::print("  initramfs of {} still holds the early-boot modules (--no-initramfs-update)\n", release);
    } else {
      fmt::print("  initramfs of {} built again\n", release);
    }
  }
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
                      "Installed kernel release to install for; repeatable (default: uname -r)");
  install->add_option("--trust", install_args->load.trust,
                      fmt::format("Trusted signing certificate (PEM/DER file or directory); repeatable (default: "
                                  "ROOT{})",
                                  loader::kDefaultTrustDir));
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
  uninstall->add_option("--kernel", uninstall_args->kernels,
                        "Kernel release to uninstall from; repeatable (default: every kernel)");
  uninstall->add_flag("--no-initramfs-update", uninstall_args->no_initramfs,
                      "Do not build the initramfs again after removing an early-boot module");
  add_path_options(uninstall, uninstall_args->paths);
  app.on(uninstall, [&app, uninstall_args] { run_uninstall(app, *uninstall_args); });
}

}  // namespace ckms::cli
