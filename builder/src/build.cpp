// build_modules: what the kernels share (source digest, signing key, unpack cache), a pool
// of workers that each build one kernel at a time, and the module index once at the end.
#include "ckms/builder/build.hpp"

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "build_kernel.hpp"
#include "ckms/artifact/source_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/builder/sandbox_bundle.hpp"
#include "ckms/builder/stop.hpp"

namespace ckms::builder {
namespace fs = std::filesystem;

namespace {

unsigned cpus() { return std::max(1u, std::thread::hardware_concurrency()); }

// A rootful sandbox's root is an unprivileged host id that must reach the image's tree.
std::optional<gid_t> unpack_cache_group(const BuildOptions& options) {
  SandboxSpec spec;
  spec.mode = options.mode;
  return rootfs_traverse_group(spec);
}

}  // namespace

std::string missing_build_image_message(const KernelRequest& request, std::string_view lookup_error) {
  const std::string release = request.release.value_or("?");
  const std::string reference = request.image ? request.image->str() : "?";
  // A layout template is filled by --output oci:DIR, a registry template by --template.
  const std::string destination = request.image && request.image->is_layout()
                                      ? fmt::format("--output oci:{}", request.image->layout().directory.string())
                                      : fmt::format("--template '{}'", request.image_template);
  return fmt::format(
      "no build image for kernel {}: tried {} (from {} template {}): {}; make it with `ckms image build --kernel {} "
      "--toolchain-tar ROOTFS.tar {}`",
      release, reference, request.image_template_origin, request.image_template, lookup_error, release, destination);
}

std::string_view to_string(KernelStatus status) {
  switch (status) {
    case KernelStatus::built: return "built";
    case KernelStatus::up_to_date: return "up-to-date";
    case KernelStatus::excluded: return "excluded";
    case KernelStatus::no_modules: return "no-modules";
    case KernelStatus::failed: return "failed";
  }
  return "failed";
}

bool BuildSummary::any_failed() const { return count(KernelStatus::failed) > 0; }

std::size_t BuildSummary::count(KernelStatus status) const {
  return static_cast<std::size_t>(
      std::count_if(kernels.begin(), kernels.end(), [&](const KernelResult& k) { return k.status == status; }));
}

BuildSummary build_modules(const BuildOptions& options, BuildObserver& observer) {
  if (options.kernels.empty()) fail(ErrorKind::usage, "no kernel to build for");
  if (options.output == nullptr) fail(ErrorKind::usage, "no output to publish to");
  const fs::path conf = options.source_dir / "dkms.conf";
  if (!fs::is_regular_file(conf)) {
    fail(ErrorKind::not_found, "{}: no dkms.conf; a DKMS module source has one at its top",
         options.source_dir.string());
  }
  fs::create_directories(options.work_dir);
  // Container root (an unprivileged host uid when rootful) must pass through to the mounts.
  fs::permissions(options.work_dir, fs::perms::others_exec | fs::perms::group_exec, fs::perm_options::add);

  detail::BuildContext context{
      .options = options,
      .observer = observer,
      .source_digest = options.source_digest
                           ? *options.source_digest
                           : artifact::pack_source(options.source_dir, options.work_dir / "source").digest,
      .dkms_conf_digest = ckms::digest_of_file(conf)};
  fs::remove_all(options.work_dir / "source");
  if (options.signing) {
    context.key.emplace(kmod::SigningKey::load(options.signing->key_file, options.signing->cert_file));
    context.certificate_digest = ckms::digest_of_file(options.signing->cert_file);
  }
  if (!options.in_place) {
    context.unpack_cache =
        std::make_unique<oci::UnpackCache>(options.cache_dir / "unpack", unpack_cache_group(options));
  }

  const unsigned workers =
      std::min<unsigned>(options.jobs == 0 ? cpus() : options.jobs, static_cast<unsigned>(options.kernels.size()));
  context.make_jobs = options.make_jobs != 0 ? options.make_jobs : std::max(1u, cpus() / workers);

  BuildSummary summary;
  summary.signed_modules = options.signing.has_value();
  summary.output = options.output->describe();
  summary.kernels.resize(options.kernels.size());
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t i = next++; i < options.kernels.size(); i = next++) {
      summary.kernels[i] = detail::build_kernel(context, options.kernels[i], i);
      observer.finished(i, summary.kernels[i]);
    }
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned w = 1; w < workers; ++w) pool.emplace_back(work);
    work();
  }

  // A stopped run publishes no index: it was asked to end, and the next run writes it.
  if (stop_requested() != 0) return summary;
  // Once, after every kernel: the index is rebuilt from the per-kernel tags, so it holds
  // this run's kernels and every kernel published before.
  std::set<std::string> versions;
  for (const auto& kernel : summary.kernels) {
    if (kernel.status == KernelStatus::built || kernel.status == KernelStatus::up_to_date) {
      versions.insert(kernel.package_version);
    }
  }
  for (const auto& version : versions) {
    summary.indexes.push_back({version, artifact::update_module_index(*options.output, version)});
  }
  return summary;
}

void to_json(nlohmann::json& j, const KernelResult& result) {
  j = {{"kernel", result.kernel},
       {"status", to_string(result.status)},
       {"seconds", static_cast<double>(result.duration.count()) / 1000.0}};
  if (result.image_reference) j["buildImage"] = *result.image_reference;
  if (result.build_image) j["buildImageDigest"] = result.build_image->str();
  if (!result.package_name.empty()) j["name"] = result.package_name;
  if (!result.package_version.empty()) j["version"] = result.package_version;
  if (!result.reason.empty()) j["reason"] = result.reason;
  if (!result.warnings.empty()) j["warnings"] = result.warnings;
  if (!result.exclusion_reasons.empty()) j["exclusionReasons"] = result.exclusion_reasons;
  if (!result.cache_key.empty()) j["cacheKey"] = result.cache_key;
  if (!result.log_file.empty()) j["log"] = result.log_file.string();
  if (!result.log_tail.empty()) j["logTail"] = result.log_tail;
  if (!result.error_lines.empty()) {
    j["firstError"] = result.error_lines.front();
    j["errorLines"] = result.error_lines;
  }
  if (result.artifact) {
    j["artifact"] = {{"tag", result.artifact->tag}, {"digest", result.artifact->manifest.digest.str()}};
  }
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& file : result.modules) {
    modules.push_back({{"file", file.file_name},
                       {"name", file.module_name},
                       {"vermagic", file.vermagic},
                       {"srcversion", file.srcversion},
                       {"depends", file.depends},
                       {"signer", file.signer},
                       {"digest", file.digest.str()},
                       {"size", file.size}});
  }
  j["modules"] = modules;
  if (!result.build_depends.empty()) {
    nlohmann::json dependencies = nlohmann::json::array();
    for (const auto& d : result.build_depends) {
      dependencies.push_back(
          {{"name", d.name}, {"version", d.version}, {"repository", d.repository}, {"manifest", d.manifest.str()}});
    }
    j["buildDepends"] = dependencies;
  }
  if (result.plan) j["plan"] = *result.plan;
}

void to_json(nlohmann::json& j, const BuildSummary& summary) {
  nlohmann::json indexes = nlohmann::json::array();
  for (const auto& index : summary.indexes) {
    indexes.push_back({{"version", index.version}, {"digest", index.index.digest.str()}});
  }
  j = {{"output", summary.output},
       {"signed", summary.signed_modules},
       {"kernels", summary.kernels},
       {"indexes", indexes},
       {"counts",
        {{"built", summary.count(KernelStatus::built)},
         {"upToDate", summary.count(KernelStatus::up_to_date)},
         {"excluded", summary.count(KernelStatus::excluded)},
         {"noModules", summary.count(KernelStatus::no_modules)},
         {"failed", summary.count(KernelStatus::failed)}}}};
}

}  // namespace ckms::builder
