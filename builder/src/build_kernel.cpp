// One kernel of `ckms build`, from its build image to its published artifact. Every step
// that runs code from the module or the image runs in the sandbox; the host only reads
// what the sandbox wrote, through tree_files.hpp.
#include "build_kernel.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <deque>

#include <fmt/format.h>

#include "build_dependencies.hpp"
#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/beneath_root.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/base/time.hpp"
#include "ckms/builder/build_cache.hpp"
#include "ckms/builder/build_image_source.hpp"
#include "ckms/builder/build_log.hpp"
#include "ckms/builder/build_script.hpp"
#include "ckms/builder/collect.hpp"
#include "ckms/builder/dkms_conf_eval.hpp"
#include "ckms/builder/dkms_conf_static.hpp"
#include "ckms/builder/sandbox_run.hpp"
#include "ckms/builder/stop.hpp"
#include "ckms/builder/tree_files.hpp"
#include "ckms/kmod/modinfo.hpp"

namespace ckms::builder::detail {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kEvaluationDump = "dkms.conf.vars";
constexpr std::size_t kLogTailLines = 30;
constexpr std::uintmax_t kErrorScanBytes = 8 << 20;  // where the first errors are looked for
constexpr std::size_t kMaxKernelFileBytes = 16 << 20;
constexpr std::size_t kMaxSymversBytes = 64 << 20;
// In the build tree ($dkms_tree): a dot name no package can have.
constexpr std::string_view kOverridesDir = ".ckms-conf-override";

// One kernel's scratch space. The sandbox sees `tree` as DKMS's /var/lib/dkms and `out`
// (or `eval_out` while dkms.conf is evaluated) at /out.
struct KernelDirs {
  explicit KernelDirs(fs::path base)
      : root(std::move(base)),
        tree(root / "tree"),
        out(root / "out"),
        eval_out(root / "eval-out"),
        files(root / "files"),
        runtime(root / "runtime"),
        eval_log(root / "evaluation.log") {}
  fs::path root, tree, out, eval_out, files, runtime, eval_log;
};

// PACKAGE_NAME and PACKAGE_VERSION become directories of the build tree.
bool plain_component(std::string_view text) {
  return !text.empty() && text != "." && text != ".." &&
         text.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

void fresh_directory(const fs::path& dir) {
  if (fs::exists(fs::symlink_status(dir))) {
    const ckms::UniqueFd parent(::open(dir.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!parent) fail_errno("open " + dir.parent_path().string());
    ckms::remove_tree_at(parent.get(), dir.filename().string(), dir.string());
  }
  fs::create_directories(dir);
}

// The log is for people: a build never fails because a line could not be added.
void write_log(const fs::path& log, std::string_view text, bool truncate) {
  if (log.empty()) return;
  std::error_code ec;
  fs::create_directories(log.parent_path(), ec);
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND);
  const ckms::UniqueFd fd(::open(log.c_str(), flags, 0644));
  if (!fd) return;
  try {
    ckms::write_all(fd.get(), std::as_bytes(std::span(text)), log.string());
  } catch (const Error&) {
  }
}

// At most `window` bytes of a file, from its start or its end: logs can be large.
std::string file_part(const fs::path& file, std::uintmax_t window, bool from_end) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) return {};
  const ckms::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  const auto start = from_end && size > window ? size - window : 0;
  std::string text(static_cast<std::size_t>(std::min(size - start, window)), '\0');
  const ssize_t n = ::pread(fd.get(), text.data(), text.size(), static_cast<off_t>(start));
  if (n <= 0) return {};
  text.resize(static_cast<std::size_t>(n));
  return text;
}

std::string file_end(const fs::path& file, std::uintmax_t window) { return file_part(file, window, true); }

std::string log_tail(const fs::path& log, std::size_t lines) {
  std::string text = file_end(log, 64 << 10);
  if (text.ends_with('\n')) text.pop_back();
  std::size_t pos = text.size();
  for (std::size_t seen = 0; seen < lines && pos != std::string::npos && pos > 0; ++seen) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

// The provenance's `created`: SOURCE_DATE_EPOCH when set (reproducible builds), else now.
std::string created_time() { return rfc3339(source_date_epoch_from_environment().value_or(std::time(nullptr))); }

// 8 GiB, 512 MiB, or bytes: limits as the flags would give them.
std::string byte_size(std::int64_t bytes) {
  if (bytes > 0 && bytes % (1LL << 30) == 0) return fmt::format("{} GiB", bytes >> 30);
  if (bytes > 0 && bytes % (1LL << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  return fmt::format("{} bytes", bytes);
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

class KernelJob {
 public:
  KernelJob(BuildContext& context, const KernelRequest& request, std::size_t index)
      : context_(context),
        options_(context.options),
        request_(request),
        index_(index),
        dirs_(options_.work_dir / fmt::format("kernel-{}", index)) {
    result_.kernel = request.release.value_or(request.image ? request.image->str() : "?");
    if (request.image) result_.image_reference = request.image->str();
  }

  KernelResult run() {
    const auto start = Clock::now();
    try {
      fresh_directory(dirs_.root);
      result_.status = steps();
    } catch (const Error& e) {
      fail_with(e.what());
    } catch (const std::exception& e) {
      fail_with(fmt::format("internal error: {}", e.what()));
    }
    result_.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    cleanup();
    return result_;
  }

 private:
  // Builds, or ends early with the status that says why not; failures throw.
  KernelStatus steps() {
    resolve_image();
    set_log_file();
    DkmsEnvironment env = environment();
    guess_identity(env);
    resolve_build_dependencies();
    result_.cache_key = cache_key(cache_inputs());
    if (!name_.empty() && !version_.empty() && up_to_date()) return KernelStatus::up_to_date;

    prepare_root();
    std::optional<KernelConfig> config = kernel_config();
    place_source();
    step("evaluating dkms.conf");
    DkmsConf conf = evaluate(env);
    if (conf.package_name != name_ || conf.package_version != version_) {
      conf = evaluate_where_dkms_would(env, conf);
      if (up_to_date()) return KernelStatus::up_to_date;
    }
    result_.package_name = name_;
    result_.package_version = version_;

    check_build_depends(conf, dependencies_, dependent());
    BuildPlan plan = plan_build(conf, env, KernelTarget{release_, arch_, std::move(config), cross_compile()});
    plan.extra_symbols = place_symvers(dependencies_, dirs_.tree, env.dkms_tree, dependent());
    result_.plan = plan;
    if (plan.excluded) {
      result_.exclusion_reasons = plan.exclusion_reasons;
      result_.reason = join(plan.exclusion_reasons, "; ");
      log(evaluation_notes_ + fmt::format("ckms: excluded by dkms.conf: {}\n", result_.reason));
      return KernelStatus::excluded;
    }
    build(plan, env);
    if (plan.modules.empty()) {
      result_.reason = "dkms.conf names no module: nothing published for this kernel";
      log(fmt::format("ckms: {}\n", result_.reason));
      return KernelStatus::no_modules;
    }
    collect(plan);
    publish();
    return KernelStatus::built;
  }

  // The static reading could not tell the package (or told otherwise): moves the tree to
  // where DKMS would have it and evaluates again with $module and $module_version set.
  DkmsConf evaluate_where_dkms_would(DkmsEnvironment& env, const DkmsConf& first) {
    move_source(first.package_name, first.package_version);
    env.module = name_;
    env.module_version = version_;
    DkmsConf conf = evaluate(env);
    if (conf.package_name != name_ || conf.package_version != version_) {
      fail(ErrorKind::build, "dkms.conf gives PACKAGE_NAME/PACKAGE_VERSION {}/{} on one reading and {}/{} on the next",
           name_, version_, conf.package_name, conf.package_version);
    }
    set_log_file();
    return conf;
  }

  void step(std::string_view what) {
    stop_if_requested();
    context_.observer.step(index_, result_.kernel, what);
  }

  // Between steps and after a sandbox run: a stopped ckms starts nothing new.
  static void stop_if_requested() {
    if (const int signal = stop_requested())
      fail(ErrorKind::build, "stopped: ckms got signal {} ({})", signal, ::strsignal(signal));
  }

  void fail_with(std::string reason) {
    result_.status = KernelStatus::failed;
    result_.reason = std::move(reason);
    log(evaluation_notes_ + fmt::format("ckms: error: {}\n", result_.reason));
    evaluation_notes_.clear();
    result_.log_tail = log_tail(result_.log_file, kLogTailLines);
    result_.error_lines = first_error_lines(file_part(result_.log_file, kErrorScanBytes, false));
  }

  void cleanup() {
    try {
      const ckms::UniqueFd parent(::open(dirs_.root.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (parent) ckms::remove_tree_at(parent.get(), dirs_.root.filename().string(), dirs_.root.string());
    } catch (const Error&) {
      // Scratch space that cannot be removed is left for the work dir's own removal.
    }
  }

  void resolve_image() {
    if (!request_.image) {
      // In place without a named image: this root is the build environment, with the
      // headers where DKMS looks, or where Debian's headers packages put them.
      release_ = *request_.release;
      arch_ = kernel_arch(host_oci_architecture());
      source_dir_ = "/lib/modules/" + release_ + "/build";
      const std::string debian = "/usr/src/linux-headers-" + release_;
      if (!fs::exists(source_dir_ + "/Makefile") && fs::exists(debian + "/Makefile")) source_dir_ = debian;
      return;
    }
    step("resolving build image");
    try {
      image_target_ = options_.open_target(*request_.image);
      image_.emplace(inspect_build_image(*image_target_, oci::selector_of(*request_.image), request_.image->str(),
                                         request_.release));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found || request_.image_template.empty()) throw;
      fail(ErrorKind::not_found, "{}", missing_build_image_message(request_, e.what()));
    }
    release_ = image_->release;
    arch_ = image_->arch;
    source_dir_ = image_->source_dir;
    result_.kernel = release_;
    result_.build_image = image_->manifest.digest;
  }

  // <log dir>/<name>-<version>/<release>.log, named once the module is known. Nothing is
  // written before the build (or the failure) of this run, so an up-to-date kernel keeps
  // pointing at the log of the build that made its artifact.
  void set_log_file() {
    const std::string identity =
        !name_.empty() && !version_.empty() ? fmt::format("{}-{}", name_, version_) : "unknown-module";
    result_.log_file = options_.log_dir / identity / (oci::sanitize_tag(result_.kernel) + ".log");
  }

  // The first line of this run replaces an older log of the same name.
  void log(std::string_view text) {
    write_log(result_.log_file, text, !log_started_);
    log_started_ = true;
  }

  // In place, the build runs on this machine for this machine's kernel.
  std::optional<CrossCompile> cross_compile() const {
    return image_ ? cross_compile_for(arch_, image_->build_arch) : std::nullopt;
  }

  DkmsEnvironment environment() const {
    DkmsEnvironment env = DkmsEnvironment::for_kernel(release_, arch_);
    env.kernel_source_dir = source_dir_;
    env.dkms_tree = options_.in_place ? dirs_.tree.string() : std::string(kDkmsTreeMountPoint);
    env.parallel_jobs = static_cast<int>(context_.make_jobs);
    return env;
  }

  // PACKAGE_NAME and PACKAGE_VERSION as the static reader sees them for this kernel: enough
  // to lay out the build tree and to find a published artifact before anything runs. The
  // evaluation in the sandbox has the last word.
  void guess_identity(DkmsEnvironment& env) {
    try {
      const auto parsed = parse_dkms_conf_static_file(options_.source_dir / "dkms.conf", env);
      const auto exact = [&](std::string_view name) -> std::string {
        if (std::find(parsed.undetermined.begin(), parsed.undetermined.end(), name) != parsed.undetermined.end()) {
          return {};
        }
        return first_value(parsed.variables, name);
      };
      const std::string name = exact("PACKAGE_NAME");
      const std::string version = exact("PACKAGE_VERSION");
      if (plain_component(name) && plain_component(version)) {
        name_ = name;
        version_ = version;
        env.module = name_;
        env.module_version = version_;
        set_log_file();
      }
    } catch (const Error&) {
      // Unreadable statically: the sandbox evaluation decides.
    }
  }

  DependentBuild dependent() const {
    return DependentBuild{.name = name_, .version = version_, .release = release_, .arch = arch_};
  }

  // Before the cache key, which holds each dependency's digest: a dependency built again
  // means this package is built again against it.
  void resolve_build_dependencies() {
    if (options_.depends.empty()) return;
    step("resolving build dependencies");
    dependencies_ = resolve_dependencies(options_.depends, options_.open_target, dependent());
    for (const auto& dependency : dependencies_) result_.build_depends.push_back(dependency.record());
  }

  std::vector<std::string> dependency_texts() const {
    std::vector<std::string> texts;
    for (const auto& d : result_.build_depends) {
      texts.push_back(fmt::format("{} {} {}", d.name, d.version, d.manifest.str()));
    }
    return texts;
  }

  std::vector<std::string> override_digests() const {
    std::vector<std::string> digests;
    for (const auto& text : options_.conf_overrides) digests.push_back(ckms::digest_of(text).str());
    return digests;
  }

  // The --conf-override texts as files of the build tree, for the evaluation to source;
  // returns their paths in the sandbox.
  std::vector<std::string> place_overrides(const DkmsEnvironment& env) const {
    std::vector<std::string> paths;
    const fs::path dir = dirs_.tree / kOverridesDir;
    for (std::size_t i = 0; i < options_.conf_overrides.size(); ++i) {
      fs::create_directories(dir);
      ckms::AtomicFile file(dir / fmt::format("{}.conf", i));
      file.write(options_.conf_overrides[i]);
      file.commit();
      paths.push_back(fmt::format("{}/{}/{}.conf", env.dkms_tree, kOverridesDir, i));
    }
    return paths;
  }

  CacheInputs cache_inputs() const {
    return CacheInputs{.source = context_.source_digest,
                       .dkms_conf = context_.dkms_conf_digest,
                       .build_image = result_.build_image,
                       .kernel_release = release_,
                       .arch = arch_,
                       .signing_certificate = context_.certificate_digest,
                       .sign_hash = options_.signing ? options_.signing->options.hash : "",
                       .sign_key_id = options_.signing && options_.signing->options.use_key_id,
                       .compression = std::string(kmod::to_string(options_.compression)),
                       .default_parameters = default_parameter_texts(),
                       .build_depends = dependency_texts(),
                       .conf_overrides = override_digests(),
                       .ckms_version = options_.ckms_version};
  }

  // Whether the output already holds this build (same cache key); fills the result if so.
  bool up_to_date() {
    if (options_.force) return false;
    step("checking the output");
    std::optional<artifact::ResolvedModule> published;
    {
      std::lock_guard lock(context_.output_mutex);
      published = published_module(*options_.output, version_, release_);
    }
    if (published && published->cache_key == result_.cache_key) {
      result_.package_name = name_;
      result_.package_version = version_;
      result_.modules = published->config.files;
      result_.artifact = artifact::PublishedModule{.manifest = published->manifest_descriptor,
                                                   .tag = artifact::kernel_tag(version_, release_)};
      if (!fs::exists(result_.log_file)) result_.log_file.clear();
      result_.reason = fmt::format("{} already holds {} with the same cache key", options_.output->describe(),
                                   artifact::kernel_tag(version_, release_));
      return true;
    }
    return false;
  }

  void prepare_root() {
    if (options_.in_place) {
      rootfs_ = "/";
      return;
    }
    if (!context_.unpack_cache->find(image_->manifest.digest)) step("unpacking build image");
    rootfs_ = unpack_build_image(*image_target_, *image_, *context_.unpack_cache);
  }

  std::optional<KernelConfig> kernel_config() const {
    const std::string what = fmt::format("build image {}", image_ ? image_->reference : "/");
    if (!read_file_in_root(rootfs_, source_dir_ + "/Makefile", kMaxKernelFileBytes, what)) {
      fail(ErrorKind::build, "{} has no kernel headers at {} (no Makefile there)", what, source_dir_);
    }
    const auto text = read_file_in_root(rootfs_, source_dir_ + "/.config", kMaxKernelFileBytes, what);
    if (!text) return std::nullopt;
    return KernelConfig::parse(*text);
  }

  fs::path build_dir_on_host() const {
    return dirs_.tree / (name_.empty() ? "module" : name_) / (version_.empty() ? "version" : version_) / "build";
  }

  void place_source() {
    fresh_directory(dirs_.tree);
    const fs::path build = build_dir_on_host();
    fs::create_directories(build.parent_path());
    fs::copy(options_.source_dir, build, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  }

  void move_source(const std::string& name, const std::string& version) {
    if (!plain_component(name) || !plain_component(version)) {
      fail(ErrorKind::build, "dkms.conf: PACKAGE_NAME '{}' and PACKAGE_VERSION '{}' must be plain names", name,
           version);
    }
    const fs::path from = build_dir_on_host();
    name_ = name;
    version_ = version;
    const fs::path to = build_dir_on_host();
    fs::create_directories(to.parent_path());
    fs::rename(from, to);
  }

  SandboxResult run_sandboxed(std::vector<std::string> argv, const fs::path& out, const fs::path& log) {
    SandboxSpec spec;
    spec.rootfs = rootfs_;
    spec.argv = std::move(argv);
    spec.mode = options_.mode;
    const bool rootless = !options_.in_place && effective_mode(spec) == SandboxMode::rootless;
    if (options_.in_place) {
      spec.mounts = {{dirs_.tree, kDkmsTreeMountPoint, true}, {out, kSandboxOutputDir, true}};
    } else {
      // The build writes into a tmpfs of --scratch-size, not into the host's scratch dir:
      // the tree is staged from a read-only mount first, as the sandbox's first step.
      spec.mounts = {{dirs_.tree, kSandboxSourceDir, false}, {out, kSandboxOutputDir, true}};
      spec.tmpfs = {{kDkmsTreeMountPoint, options_.scratch_size_bytes}};
      spec.argv.insert(
          spec.argv.begin(),
          {"bash", "-c",
           fmt::format("{}cp -R -P --preserve=mode,timestamps,links {}/. {}/ || {{ echo 'ckms: error: cannot "
                       "stage the build tree (is --scratch-size too small?)'; exit {}; }}; exec \"$@\"",
                       rootless ? rootless_memory_limit() : "", kSandboxSourceDir, kDkmsTreeMountPoint,
                       static_cast<int>(kScriptNoBuildDir)),
           "ckms-stage"});
    }
    spec.time_limit = options_.time_limit;
    spec.runtime = options_.runtime;
    spec.work_dir = dirs_.runtime;
    spec.state_root = options_.cache_dir / "sandbox";
    spec.log_file = log;
    spec.log_limit_bytes = options_.log_limit_bytes;
    spec.output_dir = out;
    spec.output_limit_bytes = options_.output_limit_bytes;
    if (options_.in_place) return run_in_place(spec);
    if (!rootless) {
      spec.memory_limit_bytes = options_.memory_limit_bytes;
      spec.pids_limit = options_.pids_limit;
      // The build's own pids cgroup replaces RLIMIT_NPROC, a count shared by every build
      // whose container root is the same host uid.
      if (spec.pids_limit) std::erase_if(spec.rlimits, [](const SandboxRlimit& r) { return r.type == "RLIMIT_NPROC"; });
    } else {
      set_rootless_rlimits(spec.rlimits);
    }
    return run_sandbox(spec);
  }

  // Rootless runc cannot set cgroup limits, so rlimits bound the build instead. In the
  // bundle: RLIMIT_NPROC the processes of the invoking user (--pids-limit), RLIMIT_FSIZE
  // any one file (no file of a build outgrows its tree, --scratch-size). A fork bomb or a
  // runaway build stops there.
  void set_rootless_rlimits(std::vector<SandboxRlimit>& rlimits) const {
    const auto set = [&](const char* type, std::uint64_t value) {
      std::erase_if(rlimits, [&](const SandboxRlimit& r) { return r.type == type; });
      rlimits.push_back({type, value, value});
    };
    if (options_.pids_limit) set("RLIMIT_NPROC", static_cast<std::uint64_t>(*options_.pids_limit));
    set("RLIMIT_FSIZE", options_.scratch_size_bytes);
  }

  // RLIMIT_AS of each process (--memory), set (soft and hard) by the sandbox's first step
  // rather than in the bundle: runc's own init runs under the bundle's rlimits until it
  // executes the build, and fails to load the seccomp filter under a small address space.
  std::string rootless_memory_limit() const {
    if (!options_.memory_limit_bytes) return {};
    return fmt::format("ulimit -v {} || exit {}; ", *options_.memory_limit_bytes >> 10,
                       static_cast<int>(kScriptNoBuildDir));
  }

  // A run that left more in /out than --output-limit: killed, or past it at its end.
  void fail_on_output_limit(const SandboxResult& run, std::string_view what) const {
    if (!run.output_limit_reached) return;
    fail(ErrorKind::build, "{} of {} for {} wrote more than its output limit of {} into {}: raise --output-limit", what,
         name_.empty() ? "the module" : name_, release_,
         byte_size(static_cast<std::int64_t>(options_.output_limit_bytes)), kSandboxOutputDir);
  }

  // Why a sandbox run that failed ended, when it ran into one of its cgroup limits.
  void fail_on_limits(const SandboxResult& run, std::string_view what) const {
    if (run.memory_limit_reached && options_.memory_limit_bytes) {
      fail(ErrorKind::build, "{} of {} for {} exceeded its memory limit of {}: raise --memory", what,
           name_.empty() ? "the module" : name_, release_, byte_size(*options_.memory_limit_bytes));
    }
    if (run.pids_limit_reached && options_.pids_limit) {
      fail(ErrorKind::build, "{} of {} for {} reached its limit of {} processes: raise --pids-limit", what,
           name_.empty() ? "the module" : name_, release_, *options_.pids_limit);
    }
  }

  std::string sandbox_path(const fs::path& host_dir, const char* sandbox_dir) const {
    return options_.in_place ? host_dir.string() : std::string(sandbox_dir);
  }

  DkmsConf evaluate(const DkmsEnvironment& env) {
    fresh_directory(dirs_.eval_out);
    const std::string conf =
        env.build_dir(name_.empty() ? "module" : name_, version_.empty() ? "version" : version_) + "/dkms.conf";
    const std::string dump = sandbox_path(dirs_.eval_out, kSandboxOutputDir) + "/" + std::string(kEvaluationDump);
    // The dump goes to a file in the output mount: the sandbox's stdout and stderr are both
    // the log, and what the file itself prints must not mix into the dump.
    const SandboxResult run = run_sandboxed({"bash", "-c", "exec bash -c \"$1\" ckms-dkms-conf >\"$2\"", "ckms",
                                             evaluation_script(env, conf, place_overrides(env)), dump},
                                            dirs_.eval_out, dirs_.eval_log);
    // Kept until the log is started: the build's own run must create the log (it cannot
    // append), and what dkms.conf printed is rarely more than a line.
    stop_if_requested();
    fail_on_output_limit(run, "evaluating dkms.conf");
    const std::string printed = file_end(dirs_.eval_log, 64 << 10);
    evaluation_notes_.clear();
    if (!printed.empty()) {
      evaluation_notes_ =
          fmt::format("ckms: evaluating dkms.conf printed:\n{}{}", printed, printed.ends_with('\n') ? "" : "\n");
    }
    if (run.timed_out) {
      fail(ErrorKind::build, "evaluating dkms.conf took longer than {} s", options_.time_limit.count());
    }
    if (run.exit_code != 0) {
      fail_on_limits(run, "evaluating dkms.conf");
      fail(ErrorKind::build, "evaluating dkms.conf in the sandbox failed (exit {})", run.exit_code);
    }
    const std::string what = fmt::format("kernel {}: dkms.conf evaluation", release_);
    const auto output = read_plain_file(dirs_.eval_out, kEvaluationDump, kMaxEvaluationOutputBytes, what);
    if (!output) fail(ErrorKind::build, "{}: the sandbox left no result", what);
    DkmsConf resolved = resolve_dkms_conf(parse_evaluation_output(*output, what), env);
    if (!resolved.errors.empty()) {
      fail(ErrorKind::build, "dkms.conf: {}", join(resolved.errors, "; "));
    }
    // DKMS prints its warnings on each reading; the result keeps those of the last one.
    result_.warnings.clear();
    for (const auto& warning : resolved.warnings) {
      result_.warnings.push_back(fmt::format("dkms.conf: Warning! {}", warning));
      evaluation_notes_ += result_.warnings.back() + "\n";
    }
    return resolved;
  }

  void build(const BuildPlan& plan, const DkmsEnvironment& env) {
    step("building");
    fresh_directory(dirs_.out);
    // The build writes the log itself, so that it can be followed while it grows.
    const SandboxResult run =
        run_sandboxed({"bash", "-c", build_script(plan, env, sandbox_path(dirs_.out, kSandboxOutputDir))}, dirs_.out,
                      result_.log_file);
    log_started_ = true;
    log(evaluation_notes_);
    evaluation_notes_.clear();
    stop_if_requested();
    fail_on_output_limit(run, "the build");
    if (run.timed_out) {
      fail(ErrorKind::build, "the build took longer than {} s and was killed", options_.time_limit.count());
    }
    if (run.exit_code != 0) {
      fail_on_limits(run, "the build");
      const auto errors = first_error_lines(file_part(result_.log_file, kErrorScanBytes, false), 1);
      fail(ErrorKind::build, "{}{} (see the log)", describe_script_exit(run.exit_code),
           errors.empty() ? "" : ": " + errors.front());
    }
  }

  void collect(const BuildPlan& plan) {
    step(context_.key ? "signing" : "collecting");
    CollectOptions collect_options;
    collect_options.key = context_.key ? &*context_.key : nullptr;
    if (options_.signing) collect_options.sign = options_.signing->options;
    collect_options.compression = options_.compression;
    result_.modules = collect_modules(plan, dirs_.out, dirs_.files, collect_options);
    collect_symvers();
    std::string lines;
    for (const auto& file : result_.modules) {
      lines += fmt::format("ckms: collected {} (module {}, vermagic {}, srcversion {}), {}\n", file.file_name,
                           file.module_name, file.vermagic, file.srcversion,
                           file.signer.empty() ? "unsigned" : "signed by " + file.signer);
    }
    log(lines);
  }

  // The build's Module.symvers, when kbuild wrote one, beside the module files.
  void collect_symvers() {
    const auto symvers = read_plain_file(dirs_.out, artifact::kSymversFileName, kMaxSymversBytes,
                                         fmt::format("kernel {}: the build's output", release_));
    if (!symvers) return;
    ckms::AtomicFile file(dirs_.files / artifact::kSymversFileName);
    file.write(*symvers);
    file.commit();
    symvers_file_ = dirs_.files / artifact::kSymversFileName;
  }

  std::vector<std::string> default_parameter_texts() const {
    std::vector<std::string> texts;
    for (const auto& setting : options_.default_parameters) texts.push_back(setting.str());
    return texts;
  }

  // The defaults checked against what the collected modules declare, as `ckms load` will
  // check them: a typo fails this kernel's build instead of every node's load.
  std::map<std::string, artifact::ParameterValues> default_parameters() const {
    if (options_.default_parameters.empty()) return {};
    const std::size_t limit = CollectOptions{}.max_module_bytes;
    std::map<std::string, std::vector<std::string>> declared;
    for (const auto& file : result_.modules) {
      const fs::path path = dirs_.files / file.file_name;
      const auto info = kmod::read_modinfo(ckms::read_file(path, limit), path.string(), limit);
      auto& names = declared[kmod::normalize_module_name(info.name)];
      for (const auto& parameter : info.parameters) names.push_back(parameter.name);
    }
    return artifact::resolve_parameters(options_.default_parameters, declared, {});
  }

  void publish() {
    step("publishing");
    artifact::ModuleConfig config;
    config.name = name_;
    config.version = version_;
    config.kernel_release = release_;
    config.arch = arch_;
    config.files = result_.modules;
    config.default_parameters = default_parameters();
    config.build_depends = result_.build_depends;
    config.provenance.source = context_.source_digest;
    config.provenance.build_image = result_.build_image;
    config.provenance.ckms_version = options_.ckms_version;
    config.provenance.created = created_time();
    // Signed with the modules' key: a node applies defaults only under that signature.
    if (context_.key) {
      artifact::sign_default_parameters(config, dirs_.files, *context_.key,
                                        options_.signing ? options_.signing->options : kmod::SignOptions{});
    }
    artifact::BuiltModuleSet built{.config = std::move(config),
                                   .files_dir = dirs_.files,
                                   .cache_key = result_.cache_key,
                                   .symvers_file = symvers_file_};
    {
      std::lock_guard lock(context_.output_mutex);
      result_.artifact = artifact::publish_module(*options_.output, std::move(built));
    }
    log(fmt::format("ckms: published {} as {} ({})\n", options_.output->describe(), result_.artifact->tag,
                    result_.artifact->manifest.digest.str()));
  }

  BuildContext& context_;
  const BuildOptions& options_;
  const KernelRequest& request_;
  std::size_t index_;
  KernelDirs dirs_;
  KernelResult result_;

  std::unique_ptr<oci::Target> image_target_;
  std::optional<BuildImage> image_;
  std::string release_;
  std::string arch_;
  std::string source_dir_;
  std::string name_;
  std::string version_;
  fs::path rootfs_;
  std::vector<ResolvedDependency> dependencies_;
  fs::path symvers_file_;
  bool log_started_ = false;
  std::string evaluation_notes_;
};

}  // namespace

KernelResult build_kernel(BuildContext& context, const KernelRequest& request, std::size_t index) {
  return KernelJob(context, request, index).run();
}

}  // namespace ckms::builder::detail
