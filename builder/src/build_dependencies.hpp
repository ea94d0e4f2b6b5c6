#pragma once
// BUILD_DEPENDS as artifacts. DKMS builds a package against the other DKMS packages it
// names in BUILD_DEPENDS, which must be built for the kernel first; ckms builds it against
// their published module artifacts (`ckms build --depends REPO:VERSION`), each fetched for
// the same kernel: its Module.symvers goes where DKMS keeps a built package's modules
// ($dkms_tree/<name>/kernel-<release>-<arch>/module/) and into KBUILD_EXTRA_SYMBOLS, so
// that modpost knows the symbols and their CRCs; the built artifact records each one by
// digest, and `ckms load` loads them first.

#include <memory>
#include <string>
#include <vector>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/builder/build.hpp"
#include "ckms/builder/dkms_conf.hpp"

namespace ckms::builder::detail {

struct ResolvedDependency {
  oci::Reference reference;  // as given to --depends
  std::unique_ptr<oci::Target> target;
  artifact::ResolvedModule module;

  // What the dependent artifact records of it.
  artifact::BuildDependency record() const;
};

// The module and kernel a build is for, as DKMS names them in its messages.
struct DependentBuild {
  std::string name;     // empty while dkms.conf has not been evaluated
  std::string version;  // likewise
  std::string release;
  std::string arch;
};

// DKMS's refusal: "Error! Aborting build of module NAME/VERSION for kernel RELEASE (ARCH)
// due to missing BUILD_DEPENDS: WHAT." with `why` after it.
[[noreturn]] void fail_missing_dependency(const DependentBuild& build, std::string_view what, std::string_view why);

// The artifact of each --depends for this kernel; a dependency without one is missing (it
// was not built, or its build failed, for this kernel).
std::vector<ResolvedDependency> resolve_dependencies(const std::vector<oci::Reference>& depends,
                                                     const TargetOpener& open, const DependentBuild& build);

// Once dkms.conf is known: every BUILD_DEPENDS name is provided by a dependency, and no
// dependency is the package itself or was built against it.
void check_build_depends(const DkmsConf& conf, const std::vector<ResolvedDependency>& dependencies,
                         const DependentBuild& build);

// Writes each dependency's Module.symvers into the build tree `tree` (the sandbox's
// `tree_in_sandbox`) where DKMS keeps a built package's modules; returns their paths in the
// sandbox, for KBUILD_EXTRA_SYMBOLS.
std::vector<std::string> place_symvers(const std::vector<ResolvedDependency>& dependencies,
                                       const std::filesystem::path& tree, const std::string& tree_in_sandbox,
                                       const DependentBuild& build);

}  // namespace ckms::builder::detail
