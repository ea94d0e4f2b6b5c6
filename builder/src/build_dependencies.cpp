#include "build_dependencies.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "ckms/base/error.hpp"

namespace ckms::builder::detail {
namespace fs = std::filesystem;

namespace {

std::string version_of(const oci::Reference& reference) {
  const auto tag = reference.tag();
  if (!tag || reference.digest()) {
    fail(ErrorKind::usage, "--depends '{}': name the dependency's version as the tag, e.g. REPO:1.0.0",
         reference.str());
  }
  return *tag;
}

std::string describe(const DependentBuild& build) {
  return fmt::format("{}/{}", build.name.empty() ? "?" : build.name, build.version.empty() ? "?" : build.version);
}

// Where DKMS keeps a package's modules built for one kernel, relative to its tree:
// <name>/<version>/<release>/<arch>/module, reached through <name>/kernel-<release>-<arch>.
std::string module_dir(const artifact::ModuleConfig& config, const DependentBuild& build) {
  return fmt::format("{}/{}/{}/{}/module", config.name, config.version, build.release, build.arch);
}

}  // namespace

artifact::BuildDependency ResolvedDependency::record() const {
  return artifact::BuildDependency{.name = module.config.name,
                                   .version = module.config.version,
                                   .repository = reference.is_layout() ? "" : reference.registry().repository,
                                   .manifest = module.manifest_descriptor.digest};
}

void fail_missing_dependency(const DependentBuild& build, std::string_view what, std::string_view why) {
  fail(ErrorKind::build, "Error! Aborting build of module {} for kernel {} ({}) due to missing BUILD_DEPENDS: {}. {}",
       describe(build), build.release, build.arch, what, why);
}

std::vector<ResolvedDependency> resolve_dependencies(const std::vector<oci::Reference>& depends,
                                                     const TargetOpener& open, const DependentBuild& build) {
  std::vector<ResolvedDependency> resolved;
  for (const auto& reference : depends) {
    const std::string version = version_of(reference);
    auto target = open(reference);
    try {
      auto module = artifact::resolve_module(*target, version, build.release);
      resolved.push_back({.reference = reference, .target = std::move(target), .module = std::move(module)});
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;
      fail_missing_dependency(build, reference.str(), fmt::format("{} (build it for this kernel first)", e.what()));
    }
  }
  return resolved;
}

void check_build_depends(const DkmsConf& conf, const std::vector<ResolvedDependency>& dependencies,
                         const DependentBuild& build) {
  for (const auto& dependency : dependencies) {
    const auto& config = dependency.module.config;
    if (config.name == conf.package_name) {
      fail(ErrorKind::build, "circular BUILD_DEPENDS: {} names {} {}, the package itself", describe(build),
           dependency.reference.str(), config.name);
    }
    for (const auto& upstream : config.build_depends) {
      if (upstream.name == conf.package_name) {
        fail(ErrorKind::build, "circular BUILD_DEPENDS: {} needs {} {}, which was built against {} itself",
             describe(build), config.name, config.version, conf.package_name);
      }
    }
  }
  for (const auto& name : conf.build_depends) {
    if (name == conf.package_name) {
      fail(ErrorKind::build, "circular BUILD_DEPENDS: dkms.conf of {} names the package itself", describe(build));
    }
    const bool provided = std::any_of(dependencies.begin(), dependencies.end(),
                                      [&](const ResolvedDependency& d) { return d.module.config.name == name; });
    if (!provided) {
      fail_missing_dependency(
          build, name,
          fmt::format("Give its module artifact with --depends REPO:VERSION (built for kernel {})", build.release));
    }
  }
}

std::vector<std::string> place_symvers(const std::vector<ResolvedDependency>& dependencies, const fs::path& tree,
                                       const std::string& tree_in_sandbox, const DependentBuild& build) {
  std::vector<std::string> paths;
  for (const auto& dependency : dependencies) {
    const auto& config = dependency.module.config;
    const std::string dir = module_dir(config, build);
    fs::create_directories(tree / dir);
    try {
      artifact::fetch_symvers(*dependency.target, dependency.module, tree / dir / artifact::kSymversFileName);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;
      fail_missing_dependency(build, config.name, e.what());
    }
    // DKMS's own link to the kernel's build of a package.
    const fs::path link = tree / config.name / fmt::format("kernel-{}-{}", build.release, build.arch);
    fs::create_directory_symlink(fmt::format("{}/{}/{}", config.version, build.release, build.arch), link);
    paths.push_back(fmt::format("{}/{}/{}", tree_in_sandbox, dir, artifact::kSymversFileName));
  }
  return paths;
}

}  // namespace ckms::builder::detail
