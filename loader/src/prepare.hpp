#pragma once
// Verification of every module of an artifact before any of them is inserted.

#include <vector>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/artifact/module_parameters.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "ckms/kmod/verify.hpp"
#include "ckms/loader/cache.hpp"
#include "ckms/loader/dependencies.hpp"
#include "ckms/loader/kernel.hpp"

namespace ckms::loader::detail {

struct PreparedModule {
  const artifact::ModuleFile* file = nullptr;
  kmod::ModInfo info;
  std::string signer;              // the trusted certificate that verified it
  std::string signer_certificate;  // its DER
  artifact::ParameterValues parameters;
  artifact::ParameterValues parameter_sources;  // name -> "command line" or "signed default"
  ModuleImage image;
  bool already_loaded = false;  // the same module (srcversion) is live: nothing to insert
};

// For each file in load order: read it re-hashing it, verify its signature against
// `trusted`, check its machine type against `machine` (uname -m) and its name, vermagic
// and srcversion against the config and `kernel_release`, and resolve its parameters. With a `kernel`, also what is
// loaded: the same module already live is kept, a different one of that name is refused.
std::vector<PreparedModule> prepare_modules(const artifact::ResolvedModule& module, Staging& staging,
                                            const kmod::TrustedCertificates& trusted,
                                            const std::vector<artifact::ParameterSetting>& settings,
                                            std::string_view kernel_release, std::string_view machine, Kernel* kernel);

// What the artifact's modules need from outside the artifact. A dependency on a module of
// the artifact listed later is an integrity error (the load order is wrong).
std::vector<Dependency> external_dependencies(const std::vector<PreparedModule>& modules);

}  // namespace ckms::loader::detail
