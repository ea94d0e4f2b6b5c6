#pragma once
// `ckms load`, `ckms unload`, `ckms status`: the node side (loader/). Both binaries register
// these commands (docs/architecture.md); they differ in load_beyond_cache() and
// in_tree_planner() alone.

#include <string>
#include <vector>

#include "app.hpp"
#include "ckms/loader/install_records.hpp"
#include "ckms/loader/kernel.hpp"
#include "ckms/loader/load.hpp"
#include "registry_flags.hpp"

namespace ckms::cli {

struct PathArgs {
  std::string cache_dir{loader::kDefaultCacheDir};
  std::string state_dir{loader::kDefaultStateDir};
  std::string modules_dir{loader::kDefaultModulesRoot};
  std::string installed_dir{loader::kDefaultInstallRecordsDir};  // for status

  loader::LoaderPaths paths() const {
    return loader::LoaderPaths{.cache_dir = cache_dir, .state_dir = state_dir, .modules_root = modules_dir};
  }
};

struct LoadArgs {
  std::string reference;
  bool all = false;
  std::string config_dir;
  std::string kernel;
  std::vector<std::string> trust;
  std::vector<std::string> parameters;
  bool offline = false;
  bool offline_fallback = false;
  bool fetch_only = false;
  std::string machine;
  PathArgs paths;
  RegistryFlags registry;
};

void register_load_commands(App& app);

// A load that needs more than the cache: a registry or a source layout, or the boot
// configuration, whose files choose their own network mode. ckms-full runs it; the node
// binary hands the command over to ckms-full (cli/src/node/).
void load_beyond_cache(App& app, const LoadArgs& args, loader::Kernel& kernel);

// Who plans in-tree dependencies that the kernel lacks: libkmod in ckms-full; the node
// binary, which links no libkmod, hands the command over to ckms-full instead.
loader::InTreePlanner in_tree_planner(App& app);

loader::LoadRequest request_from(const LoadArgs& args);
void print_load_report(App& app, const loader::LoadReport& report);

}  // namespace ckms::cli
