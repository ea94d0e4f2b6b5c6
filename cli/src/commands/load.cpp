// `ckms load REPO:VERSION | --all | --config-dir DIR`, `ckms unload NAME... | --all`,
// `ckms status`: wiring to loader/, which decides everything.
#include "load.hpp"

#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ckms/loader/boot_config.hpp"
#include "ckms/loader/load.hpp"
#include "ckms/loader/status.hpp"
#include "ckms/loader/unload.hpp"
#include "ckms/oci/printable.hpp"

namespace ckms::cli {
namespace fs = std::filesystem;

namespace {

void add_cache_option(CLI::App* command, PathArgs& args) {
  command->add_option("--cache-dir", args.cache_dir, "OCI layout that caches fetched artifacts")
      ->envname("CKMS_CACHE_DIR")
      ->capture_default_str();
}

void add_state_option(CLI::App* command, PathArgs& args) {
  command->add_option("--state-dir", args.state_dir, "Where records of loaded modules are kept")
      ->envname("CKMS_STATE_DIR")
      ->capture_default_str();
}

std::vector<fs::path> as_paths(const std::vector<std::string>& texts) { return {texts.begin(), texts.end()}; }

std::string describe_parameters(const artifact::ParameterValues& values, const artifact::ParameterValues& sources) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : values) {
    const auto source = sources.find(name);
    parts.push_back(name + "=" + value + (source == sources.end() ? "" : " (" + source->second + ")"));
  }
  return fmt::format("{}", fmt::join(parts, " "));
}

}  // namespace

void print_load_report(App& app, const loader::LoadReport& report) {
  if (app.options().json) {
    print_json(report.to_json());
    return;
  }
  // What it was built against came first, and is told first.
  for (const auto& dependency : report.build_dependencies) print_load_report(app, dependency);
  const bool fetched = !report.modules.empty() && report.modules.front().action == loader::ModuleAction::fetched;
  fmt::print("{} {} {} for {} from {} ({})\n", fetched ? "fetched" : "loaded", oci::printable(report.package),
             oci::printable(report.version), report.kernel_release, report.from_cache ? "the cache" : report.source,
             report.manifest.str());
  if (!report.fallback_reason.empty()) {
    fmt::print("  registry not reachable, used the cache: {}\n", oci::printable(report.fallback_reason));
  }
  for (const auto& dependency : report.dependencies_inserted)
    fmt::print("  {}: inserted (in-tree dependency)\n", dependency);
  for (const auto& m : report.modules) {
    fmt::print(
        "  {}: {}, signed by {}{}\n", oci::printable(m.module), loader::to_string(m.action), oci::printable(m.signer),
        oci::printable(
            m.parameters.empty() ? "" : ", parameters " + describe_parameters(m.parameters, m.parameter_sources)));
  }
}

loader::LoadRequest request_from(const LoadArgs& args) {
  loader::LoadRequest request{.reference = oci::Reference::parse(args.reference)};
  request.registry = registry_options(args.registry);
  if (!args.kernel.empty()) request.kernel_release = args.kernel;
  request.trust = as_paths(args.trust);
  for (const auto& text : args.parameters) request.parameters.push_back(artifact::ParameterSetting::parse(text));
  if (args.offline) request.network = loader::NetworkMode::offline;
  if (args.offline_fallback) request.network = loader::NetworkMode::fallback;
  request.fetch_only = args.fetch_only;
  if (!args.machine.empty()) request.machine = args.machine;
  return request;
}

namespace {

void run_load(App& app, const LoadArgs& args) {
  loader::LinuxKernel kernel;
  const bool batch = args.all || !args.config_dir.empty();
  if (batch == !args.reference.empty()) {
    fail(ErrorKind::usage, "name one artifact (REPO:VERSION), or --all, or --config-dir DIR");
  }
  if (args.offline && args.offline_fallback)
    fail(ErrorKind::usage, "--offline and --offline-fallback exclude each other");
  if (batch && (!args.kernel.empty() || !args.parameters.empty() || args.fetch_only || !args.machine.empty() ||
                args.offline || args.offline_fallback)) {
    fail(ErrorKind::usage, "--all and --config-dir take --kernel, --param and the network mode from each file");
  }
  if (batch || !args.offline) {
    load_beyond_cache(app, args, kernel);
    return;
  }
  print_load_report(app, loader::load(request_from(args), args.paths.paths(), kernel, nullptr, in_tree_planner(app)));
}

struct UnloadArgs {
  std::vector<std::string> names;
  bool all = false;
  PathArgs paths;
};

void run_unload(App& app, const UnloadArgs& args) {
  if (args.all == !args.names.empty()) fail(ErrorKind::usage, "name the modules or packages to unload, or --all");
  loader::LinuxKernel kernel;
  loader::StateStore state(args.paths.state_dir);
  const auto report = loader::unload(args.names, state, kernel);
  if (app.options().json) {
    print_json(report.to_json());
    return;
  }
  for (const auto& m : report.removed) fmt::print("{}: removed\n", m);
  for (const auto& m : report.already_gone) fmt::print("{}: was not loaded any more, record removed\n", m);
  for (const auto& m : report.dependencies_removed) fmt::print("{}: removed (in-tree dependency)\n", m);
  for (const auto& m : report.dependencies_kept) fmt::print("{}: kept, still in use (in-tree dependency)\n", m);
}

void run_status(App& app, const PathArgs& args) {
  loader::LinuxKernel kernel;
  loader::StateStore state(args.state_dir);
  std::unique_ptr<loader::ModuleCache> cache;
  if (fs::exists(fs::path(args.cache_dir) / "oci-layout"))
    cache = std::make_unique<loader::ModuleCache>(args.cache_dir);
  const loader::InstallRecords installed(args.installed_dir);
  const auto entries = loader::status(state, cache.get(), kernel, &installed);
  if (app.options().json) {
    nlohmann::json modules = nlohmann::json::array();
    for (const auto& e : entries) modules.push_back(e.to_json());
    print_json({{"kernelRelease", kernel.release()}, {"modules", modules}});
    return;
  }
  for (const auto& e : entries) {
    // One line per parameter under its module: each escaped on its own.
    std::istringstream lines(e.line());
    for (std::string line; std::getline(lines, line);) fmt::print("{}\n", oci::printable(line));
  }
}

struct EarlyModulesArgs {
  std::string kernel;
  PathArgs paths;
};

// For the initramfs hooks (loader/initramfs/): "MODULE PATH" per line for the files that are
// still what ckms installed; a changed one stays out of the image, said on stderr.
void run_early_modules(App& app, const EarlyModulesArgs& args) {
  const loader::InstallRecords records(args.paths.installed_dir);
  const auto modules = loader::early_modules(records, fs::path(args.paths.modules_dir) / args.kernel, args.kernel);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : modules) {
    if (app.options().json) {
      out.push_back({{"module", m.module}, {"path", m.path.string()}, {"intact", m.intact}});
    } else if (m.intact) {
      fmt::print("{} {}\n", m.module, m.path.string());
    } else {
      fmt::print(stderr, "ckms: {} changed since ckms installed it: left out of the initramfs of {}\n",
                 oci::printable(m.path.string()), args.kernel);
    }
  }
  if (app.options().json) print_json(out);
}

void register_early_modules(App& app) {
  auto args = std::make_shared<EarlyModulesArgs>();
  auto* early = app.root().add_subcommand(
      "early-modules", "The installed modules needed in early boot, for the initramfs hooks: MODULE PATH per line");
  early->add_option("--kernel", args->kernel, "Kernel release whose initramfs is being built")->required();
  early->add_option("--installed-dir", args->paths.installed_dir, "Records of what `ckms install` installed")
      ->envname("CKMS_INSTALLED_DIR")
      ->capture_default_str();
  early->add_option("--modules-dir", args->paths.modules_dir, "Where <release>/updates/ckms is")->capture_default_str();
  app.on(early, [&app, args] { run_early_modules(app, *args); });
}

}  // namespace

void register_load_commands(App& app) {
  auto& root = app.root();

  auto load_args = std::make_shared<LoadArgs>();
  auto* load = root.add_subcommand(
      "load", "Fetch, verify and insert a module artifact for the running kernel (or every configured one)");
  load->add_option("REF", load_args->reference, "REPO:VERSION or oci:DIR:VERSION");
  load->add_flag("--all", load_args->all,
                 fmt::format("Load every artifact configured in {}", loader::kDefaultConfigDir));
  load->add_option("--config-dir", load_args->config_dir, "Load every artifact configured in DIR (*.yaml)");
  load->add_option("--kernel", load_args->kernel, "Kernel release to resolve for (default: uname -r)");
  load->add_option("--trust", load_args->trust,
                   fmt::format("Trusted signing certificate (PEM/DER file or directory); repeatable (default: {})",
                               loader::kDefaultTrustDir));
  load->add_option("--param", load_args->parameters, "[MODULE.]NAME=VALUE module parameter; repeatable");
  load->add_flag("--offline", load_args->offline, "Load from the cache only, without any registry");
  load->add_flag("--offline-fallback", load_args->offline_fallback,
                 "Use the cache when the registry cannot be reached");
  load->add_flag("--fetch-only", load_args->fetch_only,
                 "Fetch and verify into the cache without inserting (e.g. with --kernel for the next kernel)");
  load->add_option("--machine", load_args->machine,
                   "With --fetch-only: the node's machine (uname -m, e.g. aarch64) when it is not this one");
  add_cache_option(load, load_args->paths);
  add_state_option(load, load_args->paths);
  load->add_option("--modules-dir", load_args->paths.modules_dir,
                   "Where <release>/modules.dep.bin of in-tree modules is")
      ->envname("CKMS_MODULES_DIR")
      ->capture_default_str();
  add_registry_flags(load, load_args->registry);
  app.on(load, [&app, load_args] { run_load(app, *load_args); });

  auto unload_args = std::make_shared<UnloadArgs>();
  auto* unload = root.add_subcommand("unload", "Remove modules that ckms loaded, by module or package name");
  unload->add_option("NAME", unload_args->names, "Module or package name");
  unload->add_flag("--all", unload_args->all, "Remove every module ckms loaded");
  add_state_option(unload, unload_args->paths);
  app.on(unload, [&app, unload_args] { run_unload(app, *unload_args); });

  auto status_args = std::make_shared<PathArgs>();
  auto* status = root.add_subcommand("status", "One line per module: version, kernel, arch and state");
  add_cache_option(status, *status_args);
  add_state_option(status, *status_args);
  status->add_option("--installed-dir", status_args->installed_dir, "Records of what `ckms install` installed")
      ->envname("CKMS_INSTALLED_DIR")
      ->capture_default_str();
  app.on(status, [&app, status_args] { run_status(app, *status_args); });
  register_early_modules(app);
}

}  // namespace ckms::cli
