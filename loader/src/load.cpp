// load(): the order that makes a refused or failed load leave nothing behind. Resolve and
// fetch everything, verify everything, then insert; the cache and the state records
// change only once every insert has succeeded, and if recording fails the inserts are
// rolled back too.

#include "ckms/loader/load.hpp"
#include "ckms/loader/vermagic.hpp"

#include <chrono>

#include "artifact_json.hpp"
#include "ckms/base/enum_names.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/time.hpp"
#include "insertion.hpp"
#include "kernel_trust.hpp"
#include "prepare.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

namespace {
constexpr EnumName<ModuleAction> kActionNames[] = {{ModuleAction::inserted, "inserted"},
                                                   {ModuleAction::already_loaded, "already-loaded"},
                                                   {ModuleAction::fetched, "fetched"}};
}  // namespace

std::string_view to_string(ModuleAction action) { return name_of(action, kActionNames); }

nlohmann::json LoadReport::to_json() const {
  nlohmann::json modules_json = nlohmann::json::array();
  for (const auto& m : modules) {
    modules_json.push_back({{"module", m.module},
                            {"file", m.file},
                            {"digest", m.digest.str()},
                            {"signer", m.signer},
                            {"parameters", m.parameters},
                            {"parameterSources", m.parameter_sources},
                            {"action", to_string(m.action)}});
  }
  nlohmann::json j = detail::artifact_json(*this);
  j.update({{"fromCache", from_cache},
            {"modules", modules_json},
            {"dependenciesInserted", dependencies_inserted},
            {"milliseconds",
             {{"trust", milliseconds.trust},
              {"resolve", milliseconds.resolve},
              {"fetch", milliseconds.fetch},
              {"verify", milliseconds.verify},
              {"insert", milliseconds.insert}}}});
  if (!fallback_reason.empty()) j["fallbackReason"] = fallback_reason;
  if (!build_dependencies.empty()) {
    nlohmann::json dependencies = nlohmann::json::array();
    for (const auto& dependency : build_dependencies) dependencies.push_back(dependency.to_json());
    j["buildDependencies"] = dependencies;
  }
  return j;
}

namespace {

class Stopwatch {
 public:
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Registry trouble that a host booting before its network should ride out with its cache;
// a registry that answers "no such artifact" or "not allowed" is not such trouble.
bool may_fall_back(const Error& e) { return e.kind() == ErrorKind::network || e.kind() == ErrorKind::registry; }

std::vector<ModuleRecord> records_for(const LoadReport& report, const std::vector<detail::PreparedModule>& prepared) {
  std::vector<ModuleRecord> out;
  const std::string now = rfc3339_now();
  const std::string boot = current_boot_id();
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    const auto& p = prepared[i];
    out.push_back(
        ModuleRecord{.module = p.image.name,
                     .package = report.package,
                     .version = report.version,
                     .kernel_release = report.kernel_release,
                     .arch = report.arch,
                     .source = report.source,
                     .cache_name = report.cache_name,
                     .manifest = report.manifest,
                     .file = p.file->file_name,
                     .file_digest = p.file->digest,
                     .srcversion = p.info.srcversion,
                     .signer = p.signer,
                     // Parameters only take effect at insertion.
                     .parameters = p.already_loaded ? artifact::ParameterValues{} : p.parameters,
                     .parameter_sources = p.already_loaded ? artifact::ParameterValues{} : p.parameter_sources,
                     .dependencies_inserted = report.dependencies_inserted,
                     .order = static_cast<int>(i),
                     .inserted = !p.already_loaded,
                     .loaded_at = now,
                     .boot_id = boot});
  }
  return out;
}

// Loading again what is already loaded keeps what the first load recorded: that ckms
// inserted the module, when, and which dependencies came with it, so unload still
// removes them.
void adopt_earlier_record(const StateStore& state, ModuleRecord& record) {
  if (record.inserted) return;
  const auto earlier = state.find(record.module);
  if (!earlier || earlier->file_digest != record.file_digest) return;
  record.inserted = earlier->inserted;
  record.loaded_at = earlier->loaded_at;
  record.boot_id = earlier->boot_id;
  record.parameters = earlier->parameters;
  record.parameter_sources = earlier->parameter_sources;
  record.dependencies_inserted = earlier->dependencies_inserted;
}

// Those the kernel has, loaded or built in, need no planning: the usual case on a node. One
// being removed goes to the planner too, which refuses it with a reason.
std::vector<Dependency> absent_dependencies(const std::vector<Dependency>& needed, Kernel& kernel) {
  std::vector<Dependency> absent;
  for (const auto& dependency : needed) {
    const ModuleState state = kernel.state(kmod::normalize_module_name(dependency.name));
    if (state == ModuleState::absent || state == ModuleState::going) absent.push_back(dependency);
  }
  return absent;
}

// The version the tag names; a digest pin may name none, its artifact's config says it.
std::optional<std::string> requested_version(const LoadRequest& request) {
  const auto version = request.reference.tag();
  if (!version && !request.reference.digest()) {
    fail(ErrorKind::usage, "'{}': name the module version as the tag (REPO:1.0.0) or pin a digest (REPO@sha256:...)",
         request.reference.str());
  }
  return version;
}

// The kernel release to load for; only the running one, unless the load only fetches.
std::string requested_release(const LoadRequest& request, Kernel& kernel) {
  const std::string running = kernel.release();
  const std::string release = request.kernel_release.value_or(running);
  if (!request.fetch_only && release != running) {
    fail(ErrorKind::refused,
         "wrong kernel: the artifact for kernel {} cannot be inserted into the running kernel {} "
         "(--fetch-only fetches for another kernel)",
         release, running);
  }
  return release;
}

// From `source`, or from the cache when there is none or, when the request allows falling
// back, when it cannot be reached; then `source` is null and the report says why.
artifact::ResolvedModule resolve_from_source(const LoadRequest& request, const std::optional<std::string>& version,
                                             const std::string& release, oci::Target& source) {
  if (const auto pinned = request.reference.digest()) return artifact::resolve_pinned_module(source, *pinned, release);
  return artifact::resolve_module(source, *version, release);
}

// A pin is looked up by its digest among the cache's blobs, whichever repository stored it.
artifact::ResolvedModule resolve_from_cache(const LoadRequest& request, const std::optional<std::string>& version,
                                            const std::string& release, ModuleCache& cache) {
  if (const auto pinned = request.reference.digest()) {
    return artifact::resolve_pinned_module(cache.layout(), *pinned, release);
  }
  return cache.resolve(repository_key(request.reference), *version, release);
}

// With a tag beside the pin (REPO:1.0.0@sha256:...), the pinned artifact must be that version.
void check_pinned_version(const LoadRequest& request, const std::optional<std::string>& version,
                          const artifact::ResolvedModule& resolved) {
  if (!request.reference.digest() || !version || resolved.config.version == *version) return;
  fail(ErrorKind::integrity, "{}: the pinned artifact is {} {}, not version {}", request.reference.str(),
       resolved.config.name, resolved.config.version, *version);
}

artifact::ResolvedModule resolve_artifact(const LoadRequest& request, const std::optional<std::string>& version,
                                          const std::string& release, ModuleCache& cache, oci::Target*& source,
                                          LoadReport& report) {
  if (source != nullptr) {
    try {
      return resolve_from_source(request, version, release, *source);
    } catch (const Error& e) {
      if (request.network != NetworkMode::fallback || !may_fall_back(e)) throw;
      report.fallback_reason = e.what();
      source = nullptr;
    }
  }
  return resolve_from_cache(request, version, release, cache);
}

std::string node_machine(const LoadRequest& request, Kernel& kernel) {
  if (!request.machine) return kernel.machine();
  if (!request.fetch_only) {
    fail(ErrorKind::usage,
         "--machine {}: only a fetch (--fetch-only) can be for another machine; an insert is "
         "always for this one",
         *request.machine);
  }
  return *request.machine;
}

void describe_artifact(LoadReport& report, const artifact::ResolvedModule& resolved, std::string cache_name) {
  const auto& config = resolved.config;
  report.package = config.name;
  report.version = config.version;
  report.kernel_release = config.kernel_release;
  report.arch = config.arch;
  report.manifest = resolved.manifest_descriptor.digest;
  report.cache_name = std::move(cache_name);
}

// The in-tree modules to insert first: those the artifact's modules need and the kernel lacks.
std::vector<InTreeModule> in_tree_dependencies(const std::vector<detail::PreparedModule>& prepared,
                                               const std::filesystem::path& modules_dir, Kernel& kernel,
                                               const InTreePlanner& plan_in_tree) {
  const auto absent = absent_dependencies(detail::external_dependencies(prepared), kernel);
  if (absent.empty()) return {};
  return plan_in_tree(modules_dir, absent, kernel);
}

LoadedModule loaded_module(const detail::PreparedModule& p, ModuleAction action) {
  return LoadedModule{
      .module = p.image.name,
      .file = p.file->file_name,
      .digest = p.file->digest,
      .signer = p.signer,
      .signer_certificate = p.signer_certificate,
      .parameters = action == ModuleAction::already_loaded ? artifact::ParameterValues{} : p.parameters,
      .parameter_sources = action == ModuleAction::already_loaded ? artifact::ParameterValues{} : p.parameter_sources,
      .action = action};
}

// In-tree dependencies first, then the artifact's modules in their load order.
void insert_modules(detail::Insertion& insertion, const std::vector<InTreeModule>& dependencies,
                    const std::vector<detail::PreparedModule>& prepared, LoadReport& report) {
  for (const auto& dependency : dependencies) {
    insertion.insert(detail::in_tree_image(dependency.name, dependency.path), "");
    report.dependencies_inserted.push_back(dependency.name);
  }
  for (const auto& p : prepared) {
    if (!p.already_loaded) insertion.insert(p.image, artifact::kernel_parameters(p.parameters));
    report.modules.push_back(
        loaded_module(p, p.already_loaded ? ModuleAction::already_loaded : ModuleAction::inserted));
  }
}

// Commits the cache and writes the state records; if either fails, the records this load
// added are erased and its inserts rolled back.
void record_load(const LoadReport& report, const std::vector<detail::PreparedModule>& prepared, Staging& staging,
                 const artifact::ResolvedModule& resolved, StateStore& state, detail::Insertion& insertion) {
  std::vector<std::string> recorded;
  try {
    staging.commit(resolved, report.cache_name);
    for (auto record : records_for(report, prepared)) {
      const bool earlier = state.find(record.module).has_value();
      adopt_earlier_record(state, record);
      state.write(record);
      if (!earlier) recorded.push_back(record.module);
    }
  } catch (const Error& e) {
    for (const auto& module : recorded) state.erase(module);
    const std::string undone = insertion.rollback();
    fail(e.kind(), "{}{}", e.what(), undone.empty() ? "" : "; " + undone);
  }
  insertion.keep();
}

// How deep build dependencies may nest: each is pinned by digest, so they cannot form a
// cycle, but a registry could still offer a long chain.
constexpr int kMaxDependencyDepth = 8;

// Where a build dependency is: its recorded repository on the registry the dependent came
// from (a node may reach the registry under another name, or a mirror), or the same layout.
oci::Reference dependency_reference(const LoadRequest& request, const artifact::BuildDependency& dependency,
                                    const artifact::ModuleConfig& dependent) {
  const auto& reference = request.reference;
  if (reference.is_layout()) {
    return oci::Reference::parse(fmt::format("oci:{}:{}", reference.layout().directory.string(), dependency.version));
  }
  if (dependency.repository.empty()) {
    fail(ErrorKind::refused,
         "{} {} was built against {} {} from a layout, which names no repository: load {} first from where it is",
         dependent.name, dependent.version, dependency.name, dependency.version, dependency.name);
  }
  return oci::Reference::parse(
      fmt::format("{}/{}:{}", reference.registry().registry, dependency.repository, dependency.version));
}

LoadRequest dependency_request(const LoadRequest& request, const artifact::BuildDependency& dependency,
                               const artifact::ModuleConfig& dependent) {
  LoadRequest out{.reference = dependency_reference(request, dependency, dependent),
                  .registry = request.registry,
                  .kernel_release = request.kernel_release,
                  .trust = request.trust,
                  .network = request.network,
                  .fetch_only = request.fetch_only,
                  .expected_manifest = dependency.manifest,
                  .open_dependency = request.open_dependency};
  return out;
}

LoadReport load_at_depth(const LoadRequest& request, const LoaderPaths& paths, Kernel& kernel, oci::Target* source,
                         const InTreePlanner& plan_in_tree, int depth);

// The artifacts `resolved` was built against, each loaded (or fetched) first, as DKMS builds
// and installs a package's BUILD_DEPENDS first: its modules need their symbols.
std::vector<LoadReport> load_build_dependencies(const LoadRequest& request, const artifact::ResolvedModule& resolved,
                                                const LoaderPaths& paths, Kernel& kernel,
                                                const InTreePlanner& plan_in_tree, int depth) {
  const auto& config = resolved.config;
  if (!config.build_depends.empty() && depth >= kMaxDependencyDepth) {
    fail(ErrorKind::refused, "{} {}: build dependencies nest deeper than {}", config.name, config.version,
         kMaxDependencyDepth);
  }
  std::vector<LoadReport> reports;
  for (const auto& dependency : config.build_depends) {
    const LoadRequest next = dependency_request(request, dependency, config);
    try {
      std::unique_ptr<oci::Target> source;
      if (next.open_dependency) source = next.open_dependency(next);
      reports.push_back(load_at_depth(next, paths, kernel, source.get(), plan_in_tree, depth + 1));
    } catch (const Error& e) {
      fail(e.kind() == ErrorKind::not_found ? ErrorKind::refused : e.kind(),
           "missing build dependency: {} {} needs {} {} ({}) loaded first, from {}: {}", config.name, config.version,
           dependency.name, dependency.version, dependency.manifest.str(), next.reference.str(), e.what());
    }
  }
  return reports;
}

void check_expected_manifest(const LoadRequest& request, const artifact::ResolvedModule& resolved) {
  if (!request.expected_manifest || *request.expected_manifest == resolved.manifest_descriptor.digest) return;
  fail(ErrorKind::refused,
       "{} for kernel {} is {} now, not the {} it was built against: build the dependent package again",
       request.reference.str(), resolved.config.kernel_release, resolved.manifest_descriptor.digest.str(),
       request.expected_manifest->str());
}

LoadReport load_at_depth(const LoadRequest& request, const LoaderPaths& paths, Kernel& kernel, oci::Target* source,
                         const InTreePlanner& plan_in_tree, int depth) {
  const auto version = requested_version(request);
  const std::string release = requested_release(request, kernel);
  // Trust first: a host without certificates fails before it touches the network.
  Stopwatch clock;
  const auto trusted = load_trust(request.trust, paths.trust_dir);
  const double trust_ms = clock.lap();

  LoadReport report{.source = request.reference.str(), .manifest = ckms::digest_of("")};
  report.milliseconds.trust = trust_ms;
  ModuleCache cache(paths.cache_dir);
  const auto resolved = resolve_artifact(request, version, release, cache, source, report);
  report.from_cache = source == nullptr;
  report.milliseconds.resolve = clock.lap();

  // Fetch-only too: another kernel release is its point, another architecture only when
  // the node's is named.
  const std::string machine = node_machine(request, kernel);
  check_artifact_kernel(resolved.config, release, machine);
  check_expected_manifest(request, resolved);
  check_pinned_version(request, version, resolved);
  describe_artifact(report, resolved,
                    ModuleCache::record_name(repository_key(request.reference), resolved.config.version, release));
  // Before this load takes the state lock, which each of them takes in turn.
  report.build_dependencies = load_build_dependencies(request, resolved, paths, kernel, plan_in_tree, depth);
  std::optional<StateLock> lock;
  std::optional<StateStore> state;
  if (!request.fetch_only) {
    state.emplace(paths.state_dir);
    lock.emplace(state->lock());
  }

  Staging staging(cache, source);
  staging.fetch(resolved);
  report.milliseconds.fetch = clock.lap();

  const auto prepared = detail::prepare_modules(resolved, staging, trusted, request.parameters, release, machine,
                                                request.fetch_only ? nullptr : &kernel);
  if (request.fetch_only) {
    report.milliseconds.verify = clock.lap();
    staging.commit(resolved, report.cache_name);
    for (const auto& p : prepared) report.modules.push_back(loaded_module(p, ModuleAction::fetched));
    return report;
  }
  std::vector<LoadedModule> to_insert;
  for (const auto& p : prepared) {
    if (!p.already_loaded) to_insert.push_back(loaded_module(p, ModuleAction::inserted));
  }
  detail::check_kernel_trusts(to_insert, kernel);
  const auto dependencies = in_tree_dependencies(prepared, paths.modules_root / release, kernel, plan_in_tree);
  report.milliseconds.verify = clock.lap();

  detail::Insertion insertion(kernel);
  insert_modules(insertion, dependencies, prepared, report);
  record_load(report, prepared, staging, resolved, *state, insertion);
  report.milliseconds.insert = clock.lap();
  return report;
}

}  // namespace

LoadReport load(const LoadRequest& request, const LoaderPaths& paths, Kernel& kernel, oci::Target* source,
                const InTreePlanner& plan_in_tree) {
  return load_at_depth(request, paths, kernel, source, plan_in_tree, 0);
}

}  // namespace ckms::loader
