#pragma once
// `ckms build`: a DKMS module source built for several kernels at once, each in its own
// sandbox against its kernel build image, then checked, signed, compressed and published
// as module artifacts (shared/DESIGN.md "Builder", docs/build.md). Per kernel:
//
//   resolve the build image -> cache key -> up to date? -> unpack (cached by digest)
//   -> evaluate dkms.conf in the sandbox -> plan (exclusion, make, patches)
//   -> build in the sandbox -> collect, sign, compress on the host -> publish
//
// One kernel's failure never stops the others; each ends as built, up to date, excluded
// no modules or failed, with its log kept.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/artifact/module_parameters.hpp"
#include "ckms/builder/build_plan.hpp"
#include "ckms/builder/sandbox.hpp"
#include "ckms/kmod/compress.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/oci/reference.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::builder {

// One kernel to build for. Either a release whose build image `image` names (a template
// applied by the caller), or an image whose io.ckms.kernel.release label names the
// release, or, in place (`--runtime none`), a release alone: the running root is its build
// environment.
struct KernelRequest {
  std::optional<std::string> release;
  std::optional<oci::Reference> image;
  // The template `image` was made from and where it came from ("--image-template",
  // "$CKMS_IMAGE_TEMPLATE", "the default"): a missing image is then explained with both.
  std::string image_template;
  std::string image_template_origin;
};

// The message for a kernel whose build image is missing: the kernel, the reference tried
// and its template, what the lookup said, and the `ckms image build` command that makes it.
std::string missing_build_image_message(const KernelRequest& request, std::string_view lookup_error);

// Opens the registry repository or layout a reference names (credentials and TLS options
// are the caller's business).
using TargetOpener = std::function<std::unique_ptr<oci::Target>(const oci::Reference&)>;

struct SigningConfig {
  std::filesystem::path key_file;
  std::filesystem::path cert_file;
  kmod::SignOptions options;
};

struct BuildOptions {
  std::filesystem::path source_dir;           // holds dkms.conf
  std::optional<ckms::Digest> source_digest;  // when fetched from a source artifact
  std::vector<KernelRequest> kernels;
  TargetOpener open_target;              // for build images
  oci::Target* output = nullptr;         // where artifacts are published
  std::optional<SigningConfig> signing;  // absent: unsigned, as the caller asked
  kmod::Compression compression = kmod::Compression::none;
  // Defaults the artifact carries for `ckms load` (which overrides them with its own
  // --param); each must name a parameter the built module declares.
  std::vector<artifact::ParameterSetting> default_parameters;
  // Module artifacts built against (REPO:VERSION, opened with open_target): dkms.conf's
  // BUILD_DEPENDS, which each must provide for every kernel (docs/dkms-conf.md).
  std::vector<oci::Reference> depends;
  // `--conf-override`: bash text read after dkms.conf, in order, each as DKMS reads
  // /etc/dkms/<module>.conf (inside the sandbox, through safe_source).
  std::vector<std::string> conf_overrides;
  unsigned jobs = 0;             // kernels built at once; 0: one per CPU
  unsigned make_jobs = 0;        // DKMS's parallel_jobs for each make; 0: CPUs / kernels at once
  bool in_place = false;         // run builds in this root (run_in_place) instead of runc
  std::string runtime = "runc";  // OCI runtime name or path
  SandboxMode mode = SandboxMode::automatic;
  std::filesystem::path cache_dir;        // <cache_dir>/unpack: the unpack cache; <cache_dir>/sandbox: runc state
  std::filesystem::path log_dir;          // logs: <log_dir>/<name>-<version>/<release>.log
  std::filesystem::path work_dir;         // scratch space, removed per kernel when it ends
  std::chrono::seconds time_limit{3600};  // per sandbox run
  // Per sandbox run: rootful, in its own cgroup; rootless (which cannot set cgroup
  // limits), as the rlimits RLIMIT_AS of each process and RLIMIT_NPROC of the user.
  std::optional<std::int64_t> memory_limit_bytes;
  std::optional<std::int64_t> pids_limit;
  std::uint64_t log_limit_bytes = 64ULL << 20;    // kept of each kernel's build output
  std::uint64_t scratch_size_bytes = 4ULL << 30;  // the tmpfs the build tree lives in (runc only)
  std::uint64_t output_limit_bytes = 1ULL << 30;  // what each sandbox run may leave in /out
  bool force = false;                             // build even when the output is up to date
  std::string ckms_version;
};

// no_modules: dkms.conf names no module (DKMS's "Zero modules specified."): the build ran,
// as DKMS runs it, and nothing was published for the kernel.
enum class KernelStatus { built, up_to_date, excluded, no_modules, failed };
// "built", "up-to-date", "excluded", "no-modules", "failed"
std::string_view to_string(KernelStatus status);

struct KernelResult {
  std::string kernel;  // the release, or the image reference while the release is unknown
  std::optional<std::string> image_reference;
  std::optional<ckms::Digest> build_image;
  KernelStatus status = KernelStatus::failed;
  std::string reason;  // why it failed, or the exclusion in one line
  // DKMS's warnings in its words ("dkms.conf: Warning! Zero modules specified.").
  std::vector<std::string> warnings;
  std::vector<std::string> exclusion_reasons;
  std::string package_name;
  std::string package_version;
  std::vector<artifact::ModuleFile> modules;             // in load order, as published
  std::vector<artifact::BuildDependency> build_depends;  // built against, as the artifact records them
  std::optional<artifact::PublishedModule> artifact;
  std::string cache_key;
  std::optional<BuildPlan> plan;  // what DKMS would have run, once dkms.conf was evaluated
  std::filesystem::path log_file;
  std::string log_tail;  // the last lines of the log when the build failed
  // The first error lines of the log when the build failed (build_log.hpp); the first is
  // also in `reason`.
  std::vector<std::string> error_lines;
  std::chrono::milliseconds duration{0};
};

struct PublishedIndex {
  std::string version;
  oci::Descriptor index;
};

struct BuildSummary {
  std::vector<KernelResult> kernels;  // in request order
  std::vector<PublishedIndex> indexes;
  bool signed_modules = true;
  std::string output;  // the output target, described

  bool any_failed() const;
  std::size_t count(KernelStatus status) const;
};

// Receives progress from the worker threads; calls for one kernel never overlap, calls
// for different kernels may.
class BuildObserver {
 public:
  virtual ~BuildObserver() = default;
  // `index` is the kernel's position in BuildOptions::kernels; `kernel` its name so far
  // (the image reference until the image's label has named the release).
  virtual void step(std::size_t index, std::string_view kernel, std::string_view what) = 0;
  virtual void finished(std::size_t index, const KernelResult& result) = 0;
};

// Builds every requested kernel. Throws only for what stops all of them (no dkms.conf, an
// unreadable signing key, an output that cannot be written); a kernel's own trouble is
// its result.
BuildSummary build_modules(const BuildOptions& options, BuildObserver& observer);

void to_json(nlohmann::json& j, const KernelResult& result);
void to_json(nlohmann::json& j, const BuildSummary& summary);

}  // namespace ckms::builder
