#pragma once
// `ckms load REPO:VERSION`: resolve the artifact for the running kernel, fetch it into the
// cache, verify ALL of it (digests, signatures against the trusted certificates, names,
// vermagic, parameters, dependencies), and only then insert: in-tree dependencies first,
// then the artifact's modules in their load order. A failure part-way removes what this
// load inserted, in reverse; the cache changes only when the load succeeded.

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/artifact/module_parameters.hpp"
#include "ckms/loader/cache.hpp"
#include "ckms/loader/dependencies.hpp"
#include "ckms/loader/kernel.hpp"
#include "ckms/loader/state.hpp"
#include "ckms/loader/trust.hpp"
#include "ckms/oci/reference.hpp"
#include "ckms/oci/registry.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::loader {

struct LoaderPaths {
  std::filesystem::path cache_dir{kDefaultCacheDir};
  std::filesystem::path state_dir{kDefaultStateDir};
  std::filesystem::path modules_root{kDefaultModulesRoot};  // holds <release>/modules.dep.bin
  std::filesystem::path trust_dir{kDefaultTrustDir};        // when a load names no --trust
};

enum class NetworkMode {
  online,    // ask the registry; fail when it cannot be reached
  offline,   // the cache only; no network at all
  fallback,  // ask the registry, use the cache when it cannot be reached (boot)
};

struct LoadRequest;
// Opens the registry or layout a request names; null: the cache alone.
using SourceOpener = std::function<std::unique_ptr<oci::Target>(const LoadRequest&)>;

struct LoadRequest {
  oci::Reference reference;  // REPO:VERSION, or oci:DIR:VERSION
  oci::RegistryOptions registry;
  std::optional<std::string> kernel_release;  // default: the running kernel
  std::vector<std::filesystem::path> trust;   // default: LoaderPaths::trust_dir
  std::vector<artifact::ParameterSetting> parameters;
  NetworkMode network = NetworkMode::online;
  // Fetch and verify into the cache only (e.g. for the kernel the host reboots into next),
  // without inserting or checking the running kernel.
  bool fetch_only = false;
  // With fetch_only: the machine (uname -m) of the node the cache is for, when it is not
  // this one (a cache prepared on amd64 for an arm64 node). Every check of the artifact and
  // of each module's ELF header is then made against it.
  std::optional<std::string> machine;
  // The artifact must be this manifest: a build dependency is the very build its dependent
  // was compiled against.
  std::optional<ckms::Digest> expected_manifest;
  // Opens the source of each build dependency the artifact records (loaded first, from the
  // same registry as the artifact); unset: they come from the cache alone.
  SourceOpener open_dependency;
};

enum class ModuleAction { inserted, already_loaded, fetched };
std::string_view to_string(ModuleAction action);

struct LoadedModule {
  std::string module;
  std::string file;
  ckms::Digest digest;
  std::string signer;
  std::string signer_certificate;  // DER of the trusted certificate that verified it
  artifact::ParameterValues parameters;
  artifact::ParameterValues parameter_sources;  // name -> "command line" or "signed default"
  ModuleAction action = ModuleAction::inserted;
};

struct LoadReport {
  std::string package;
  std::string version;
  std::string kernel_release;
  std::string arch;
  std::string source;      // the reference asked for
  std::string cache_name;  // as recorded in the cache
  ckms::Digest manifest;
  bool from_cache = false;      // no registry was asked
  std::string fallback_reason;  // why the cache was used although the load was online
  std::vector<LoadedModule> modules;
  std::vector<std::string> dependencies_inserted;
  // The artifacts this one was built against (BUILD_DEPENDS), loaded before it.
  std::vector<LoadReport> build_dependencies;
  struct Milliseconds {
    double trust = 0, resolve = 0, fetch = 0, verify = 0, insert = 0;
  } milliseconds;

  nlohmann::json to_json() const;
};

// Loads from `source` (the registry or layout the caller opened for request.reference), or
// from the cache alone when `source` is null; request.network says whether a source that
// cannot be reached may fall back to the cache.
// Dependencies the kernel lacks go to `plan_in_tree`.
LoadReport load(const LoadRequest& request, const LoaderPaths& paths, Kernel& kernel, oci::Target* source,
                const InTreePlanner& plan_in_tree);

// The source a request names, opened with its registry options; null when it is offline.
// Apart from load(), so that a binary that loads from its cache alone links no registry client.
std::unique_ptr<oci::Target> open_source(const LoadRequest& request);

// load() from the source the request names, with libkmod planning in-tree dependencies.
LoadReport load(const LoadRequest& request, const LoaderPaths& paths, Kernel& kernel);

}  // namespace ckms::loader
