// `ckms build`: argument parsing, defaults, progress and the summary. The work itself is
// builder::build_modules.
#include "build.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/base/temp_dir.hpp"
#include "ckms/builder/build.hpp"
#include "ckms/builder/build_source.hpp"
#include "ckms/builder/dkms_conf_eval.hpp"
#include "ckms/builder/sandbox_bundle.hpp"
#include "ckms/builder/scratch_dir.hpp"
#include "ckms/builder/stop.hpp"
#include "ckms/images/resolve.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/oci/reference.hpp"
#include "targets.hpp"

namespace ckms::cli {
namespace fs = std::filesystem;
using builder::KernelResult;
using builder::KernelStatus;

namespace {

constexpr std::string_view kDefaultOutput = "oci:ckms-out";

struct BuildArgs {
  std::string source;
  std::vector<std::string> kernels;
  std::vector<std::string> build_images;
  std::string image_template;
  std::string output = std::string(kDefaultOutput);
  std::string sign_key;
  std::string sign_cert;
  bool no_sign = false;
  std::string sign_hash = "sha256";
  std::string compress = "none";
  std::vector<std::string> parameters;
  std::vector<std::string> depends;
  std::vector<std::string> conf_overrides;
  unsigned jobs = 0;
  unsigned make_jobs = 0;
  std::string runtime = "runc";
  std::string cache_dir;
  std::string log_dir;
  unsigned timeout = 3600;
  std::optional<std::string> memory;
  std::optional<std::int64_t> pids_limit;
  std::string log_limit = "64M";
  std::string scratch_size = "4G";
  std::string output_limit = "1G";
  bool force = false;
  RegistryFlags registry;
};

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

fs::path default_cache_dir() {
  if (::geteuid() == 0) return "/var/cache/ckms";
  if (const auto xdg = environment("XDG_CACHE_HOME"); !xdg.empty()) return fs::path(xdg) / "ckms";
  if (const auto home = environment("HOME"); !home.empty()) return fs::path(home) / ".cache/ckms";
  fail(ErrorKind::usage, "no cache directory: set --cache-dir, XDG_CACHE_HOME or HOME");
}

struct ImageTemplate {
  std::string text;
  std::string origin;  // where it came from, for messages about a missing image
};

// --image-template, else $CKMS_IMAGE_TEMPLATE, else a layout in the cache dir, which
// `ckms image build --output oci:<cache dir>/images` fills.
ImageTemplate image_template(const std::string& flag, const fs::path& cache_dir) {
  if (!flag.empty()) return {flag, "--image-template"};
  if (const auto from_env = environment("CKMS_IMAGE_TEMPLATE"); !from_env.empty()) {
    return {from_env, "$CKMS_IMAGE_TEMPLATE"};
  }
  return {fmt::format("oci:{}:{}", (cache_dir / "images").string(), images::kReleasePlaceholder), "the default"};
}

kmod::Compression parse_compression(const std::string& name) {
  if (name == "none") return kmod::Compression::none;
  if (name == "xz") return kmod::Compression::xz;
  if (name == "zstd") return kmod::Compression::zstd;
  fail(ErrorKind::usage, "--compress must be none, xz or zstd, not '{}'", name);
}

// The defaults fit a builder of 2 CPUs and 24 GiB running one kernel per CPU: 16 GiB for
// the builds, the rest for the host; far more than any module build needs.
constexpr std::string_view kDefaultMemory = "8G";
constexpr std::int64_t kDefaultPidsLimit = 4096;

// 8G, 512M, 64K (powers of 1024; an optional i or iB after the letter), or bytes.
std::int64_t parse_size(const std::string& flag, const std::string& text) {
  std::size_t end = 0;
  long long number = -1;
  try {
    number = std::stoll(text, &end);
  } catch (const std::exception&) {
  }
  std::string unit = text.substr(end == 0 ? text.size() : end);
  if (unit.ends_with("iB"))
    unit.resize(unit.size() - 2);
  else if (unit.ends_with('i') || unit.ends_with('B'))
    unit.pop_back();
  static const std::map<std::string, int> shifts = {{"", 0},   {"K", 10}, {"k", 10}, {"M", 20}, {"m", 20},
                                                    {"G", 30}, {"g", 30}, {"T", 40}, {"t", 40}};
  const auto shift = shifts.find(unit);
  if (number <= 0 || end == 0 || shift == shifts.end() ||
      number > (std::numeric_limits<std::int64_t>::max() >> shift->second)) {
    fail(ErrorKind::usage, "{} '{}': give a size such as 8G, 512M or a number of bytes", flag, text);
  }
  return static_cast<std::int64_t>(number) << shift->second;
}

// Memory and process limits for each sandbox, with defaults: a cgroup as root, rlimits
// rootless (which cannot set cgroup limits); refused in place, where the pod's own limits
// apply.
void set_limits(builder::BuildOptions& options, const BuildArgs& args) {
  if (options.in_place) {
    if (args.memory || args.pids_limit) {
      fail(ErrorKind::usage,
           "--memory and --pids-limit need an OCI runtime: in place (--runtime none) the pod's own limits apply");
    }
    return;
  }
  options.memory_limit_bytes = parse_size("--memory", args.memory.value_or(std::string(kDefaultMemory)));
  options.pids_limit = args.pids_limit.value_or(kDefaultPidsLimit);
  if (*options.pids_limit <= 0) fail(ErrorKind::usage, "--pids-limit must be at least 1");
}

std::string seconds(std::chrono::milliseconds duration) {
  return fmt::format("{:.1f}s", static_cast<double>(duration.count()) / 1000.0);
}

std::string module_list(const KernelResult& result) {
  std::string out;
  for (const auto& file : result.modules) out += (out.empty() ? "" : ",") + file.file_name;
  return out.empty() ? "-" : out;
}

// Progress on stderr: on a terminal, one line per kernel redrawn in place; otherwise (CI
// logs, pipes) one plain line per step.
class Progress final : public builder::BuildObserver {
 public:
  Progress(bool quiet, std::vector<std::string> kernels)
      : quiet_(quiet), terminal_(::isatty(2) == 1), rows_(kernels.size()) {
    for (std::size_t i = 0; i < kernels.size(); ++i) rows_[i] = {std::move(kernels[i]), "waiting"};
    if (!quiet_ && terminal_) draw();
  }

  void step(std::size_t index, std::string_view kernel, std::string_view what) override {
    if (quiet_) return;
    std::lock_guard lock(mutex_);
    rows_[index] = {std::string(kernel), std::string(what)};
    if (terminal_) {
      draw();
    } else {
      fmt::print(stderr, "[{}] {}\n", kernel, what);
    }
  }

  void finished(std::size_t index, const KernelResult& result) override {
    if (quiet_) return;
    std::lock_guard lock(mutex_);
    std::string line = fmt::format("{} in {}", builder::to_string(result.status), seconds(result.duration));
    if (result.status == KernelStatus::built) line += fmt::format(": {}", module_list(result));
    if (result.status == KernelStatus::failed || result.status == KernelStatus::excluded ||
        result.status == KernelStatus::no_modules) {
      line += ": " + result.reason;
    }
    rows_[index] = {result.kernel, line};
    if (terminal_) {
      draw();
    } else {
      fmt::print(stderr, "[{}] {}\n", result.kernel, line);
    }
  }

 private:
  void draw() {
    if (drawn_ > 0) fmt::print(stderr, "\033[{}A", drawn_);
    for (const auto& [kernel, state] : rows_) fmt::print(stderr, "\r\033[K{:<28} {}\n", kernel, state);
    drawn_ = rows_.size();
    std::fflush(stderr);
  }

  bool quiet_;
  bool terminal_;
  std::vector<std::pair<std::string, std::string>> rows_;
  std::size_t drawn_ = 0;
  std::mutex mutex_;
};

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text + "\n").find("\n" + line + "\n") != std::string::npos;
}

void print_summary(const builder::BuildSummary& summary) {
  std::size_t width = 6;
  for (const auto& k : summary.kernels) width = std::max(width, k.kernel.size());
  fmt::print("{:<{}}  {:<10}  {:<24}  {:>7}  {}\n", "KERNEL", width, "STATUS", "MODULES", "TIME", "LOG");
  for (const auto& k : summary.kernels) {
    fmt::print("{:<{}}  {:<10}  {:<24}  {:>7}  {}\n", k.kernel, width, builder::to_string(k.status), module_list(k),
               seconds(k.duration), k.log_file.empty() || !fs::exists(k.log_file) ? "-" : k.log_file.string());
  }
  for (const auto& k : summary.kernels) {
    for (const auto& warning : k.warnings) fmt::print(stderr, "ckms: {}: {}\n", k.kernel, warning);
    if (k.status == KernelStatus::no_modules) {
      fmt::print(stderr, "ckms: {}: {}\n", k.kernel, k.reason);
    } else if (k.status == KernelStatus::excluded) {
      fmt::print(stderr, "ckms: {} excluded by dkms.conf: {}\n", k.kernel, k.reason);
    } else if (k.status == KernelStatus::failed) {
      fmt::print(stderr, "ckms: {} failed: {}\n", k.kernel, k.reason);
      // With parallel make the first error is often far above the tail.
      if (!k.error_lines.empty() && !has_line(k.log_tail, k.error_lines.front())) {
        fmt::print(stderr, "---- first errors in {} ----\n", k.log_file.string());
        for (const auto& line : k.error_lines) fmt::print(stderr, "{}\n", line);
      }
      if (!k.log_tail.empty()) {
        fmt::print(stderr, "---- last lines of {} ----\n{}\n----\n", k.log_file.string(), k.log_tail);
      }
    }
  }
  for (const auto& index : summary.indexes) {
    fmt::print(stderr, "ckms: {} version {}: index {}\n", summary.output, index.version, index.index.digest.str());
  }
  // Only about what this run published: up-to-date kernels were warned about when built.
  if (!summary.signed_modules && summary.count(KernelStatus::built) > 0) {
    fmt::print(stderr,
               "ckms: warning: the modules are UNSIGNED (--no-sign); nodes that check signatures refuse them\n");
  }
}

// What the build takes besides the source: default parameters, build dependencies and
// dkms.conf overrides, each checked before anything starts.
void set_module_inputs(builder::BuildOptions& options, const BuildArgs& args) {
  for (const auto& text : args.parameters) {
    options.default_parameters.push_back(artifact::ParameterSetting::parse(text));
  }
  for (const auto& text : args.depends) options.depends.push_back(oci::Reference::parse(text));
  for (const auto& text : args.conf_overrides) options.conf_overrides.push_back(builder::conf_override_text(text));
}

// Kernels: --kernel through the template (in place only when a template was named),
// --build-image as given. Returns the label each gets in the progress lines.
std::vector<std::string> add_kernels(builder::BuildOptions& options, const BuildArgs& args) {
  const bool use_template = !options.in_place || !args.image_template.empty();
  const ImageTemplate templ = image_template(args.image_template, options.cache_dir);
  std::vector<std::string> labels;
  for (const auto& release : args.kernels) {
    builder::KernelRequest request{.release = release};
    if (use_template) {
      request.image = oci::Reference::parse(images::image_reference(templ.text, release));
      request.image_template = templ.text;
      request.image_template_origin = templ.origin;
    }
    options.kernels.push_back(std::move(request));
    labels.push_back(release);
  }
  for (const auto& image : args.build_images) {
    options.kernels.push_back({.release = std::nullopt, .image = oci::Reference::parse(image)});
    labels.push_back(image);
  }
  return labels;
}

// Returns whether every kernel built, was up to date or was excluded.
bool run_build(App& app, const BuildArgs& args) {
  if (args.kernels.empty() && args.build_images.empty()) {
    fail(ErrorKind::usage, "name kernels with --kernel RELEASE or --build-image REF");
  }
  const bool has_key = !args.sign_key.empty() || !args.sign_cert.empty();
  if (has_key == args.no_sign) {
    fail(ErrorKind::usage, "give --sign-key and --sign-cert, or --no-sign to publish unsigned modules");
  }
  if (has_key && (args.sign_key.empty() || args.sign_cert.empty())) {
    fail(ErrorKind::usage, "--sign-key and --sign-cert go together");
  }
  if (has_key) kmod::SigningKey::load(args.sign_key, args.sign_cert);

  builder::BuildOptions options;
  options.in_place = args.runtime == "none";
  options.runtime = args.runtime;
  options.compression = parse_compression(args.compress);
  set_module_inputs(options, args);
  options.jobs = args.jobs;
  options.make_jobs = args.make_jobs;
  options.time_limit = std::chrono::seconds(args.timeout);
  set_limits(options, args);
  options.log_limit_bytes = static_cast<std::uint64_t>(parse_size("--log-limit", args.log_limit));
  options.scratch_size_bytes = static_cast<std::uint64_t>(parse_size("--scratch-size", args.scratch_size));
  options.output_limit_bytes = static_cast<std::uint64_t>(parse_size("--output-limit", args.output_limit));
  options.force = args.force;
  options.ckms_version = CKMS_VERSION;
  options.cache_dir = args.cache_dir.empty() ? default_cache_dir() : fs::path(args.cache_dir);
  options.log_dir = args.log_dir.empty() ? options.cache_dir / "logs" : fs::path(args.log_dir);
  options.log_dir = fs::absolute(options.log_dir);
  if (has_key) options.signing = builder::SigningConfig{args.sign_key, args.sign_cert, {.hash = args.sign_hash}};

  const std::vector<std::string> labels = add_kernels(options, args);
  options.open_target = [&args](const oci::Reference& reference) {
    return open_target(reference, args.registry, false);
  };

  const auto output_reference = oci::Reference::parse(args.output);
  if (output_reference.tag() || output_reference.digest()) {
    fail(ErrorKind::usage, "--output names a repository or layout ({}), without a tag: tags are <version>-<kernel>",
         args.output);
  }
  builder::ScratchDir work(temp_parent());
  options.work_dir = work.path() / "work";
  builder::place_source(args.source, work.path(), options, [&app](const oci::Reference& reference) {
    if (!app.options().quiet) fmt::print(stderr, "fetching source {}\n", reference.str());
  });
  if (!options.in_place) {
    // runc enters the image's unpacked tree in the cache from inside the user namespace
    // (bind-mount sources such as the work dir are opened outside it).
    builder::SandboxSpec spec;
    spec.mode = options.mode;
    builder::require_sandbox_traversal(spec, options.cache_dir, "--cache-dir");
  }
  // Only once the source and the cache are known good, since opening the output creates a
  // layout: a build that cannot start leaves nothing behind.
  const auto output = open_target(output_reference, args.registry, true);
  options.output = output.get();

  // Progress is stderr's business whatever stdout carries: a --json build is not silent.
  Progress progress(app.options().quiet, labels);
  const builder::BuildSummary summary = builder::build_modules(options, progress);
  // After the builds, whose first sandbox stopped the containers of dead builds: one still
  // running would keep writing into its scratch dir while it is removed.
  for (const auto& removed : builder::remove_abandoned_scratch(temp_parent())) {
    if (!app.options().quiet) fmt::print(stderr, "removed {}, left by a build that died\n", removed.string());
  }
  if (app.options().json) {
    print_json(summary);
  } else {
    print_summary(summary);
  }
  return !summary.any_failed();
}

// SIGINT and SIGTERM ask the builds to stop: their containers are killed and deleted and
// the scratch dir removed before ckms exits 128+N. A second signal ends ckms at once (the
// handler resets itself); the next build then stops what is left.
void stop_on_signals() {
  struct sigaction action {};
  action.sa_handler = [](int signal) { builder::request_stop(signal); };
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (const int signal : {SIGINT, SIGTERM}) ::sigaction(signal, &action, nullptr);
}

[[noreturn]] void exit_stopped(int signal) {
  fmt::print(stderr, "ckms: stopped by signal {} ({}); its containers were stopped\n", signal, ::strsignal(signal));
  std::fflush(nullptr);
  std::exit(128 + signal);
}

}  // namespace

void register_build_commands(App& app) {
  static BuildArgs args;
  auto* build = app.root().add_subcommand(
      "build", "Build a DKMS module source for kernels in sandboxes, sign and publish the modules");
  build
      ->add_option("source", args.source,
                   "Directory with dkms.conf, or a source artifact REF (oci:DIR:TAG, HOST/REPO:TAG)")
      ->required();
  build->add_option("-k,--kernel", args.kernels,
                    "Kernel release to build for (repeatable); its image comes from --image-template");
  build->add_option("--build-image", args.build_images,
                    "Kernel build image (repeatable); its io.ckms.kernel.release label names the kernel");
  build->add_option(
      "--image-template", args.image_template,
      "Build image reference with {release} (default: $CKMS_IMAGE_TEMPLATE, else oci:<cache-dir>/images:{release})");
  build->add_option("-o,--output", args.output, "Where artifacts go: a registry repository or oci:DIR")
      ->capture_default_str();
  build
      ->add_option("--sign-key", args.sign_key,
                   "Module signing private key (PEM or DER file, or a pkcs11: URI with the PIN in KBUILD_SIGN_PIN)")
      ->check(CLI::Validator(
          [](const std::string& key) { return key.starts_with("pkcs11:") ? std::string() : CLI::ExistingFile(key); },
          "FILE|pkcs11:URI"));
  build->add_option("--sign-cert", args.sign_cert, "Its X.509 certificate (PEM or DER)")->check(CLI::ExistingFile);
  build->add_flag("--no-sign", args.no_sign, "Publish unsigned modules (nodes that check signatures refuse them)");
  build->add_option("--sign-hash", args.sign_hash, "Signature hash, as sign-file's first argument")
      ->capture_default_str();
  build->add_option("--compress", args.compress, "Module compression: none, xz or zstd")->capture_default_str();
  build->add_option("--param", args.parameters,
                    "[MODULE.]NAME=VALUE default parameter the artifact carries for ckms load; repeatable");
  build->add_option("--depends", args.depends,
                    "REPO:VERSION of a module artifact to build against (dkms.conf's BUILD_DEPENDS); repeatable");
  build->add_option("--conf-override", args.conf_overrides,
                    "NAME=VALUE or FILE read after dkms.conf, as DKMS reads /etc/dkms/<module>.conf; repeatable");
  build->add_option("-j,--jobs", args.jobs, "Kernels built at once (default: one per CPU)");
  build->add_option("--make-jobs", args.make_jobs, "make -j for each build (default: CPUs / kernels at once)");
  build
      ->add_option("--runtime", args.runtime,
                   "OCI runtime (name or path), or none to build in this root (inside a build image pod)")
      ->capture_default_str();
  build->add_option("--cache-dir", args.cache_dir,
                    "Unpacked build images and logs (default: /var/cache/ckms as root, else $XDG_CACHE_HOME/ckms)");
  build->add_option("--log-dir", args.log_dir, "Build logs (default: <cache-dir>/logs)");
  build->add_option("--timeout", args.timeout, "Seconds each sandbox run may take")->capture_default_str();
  build->add_option("--memory", args.memory,
                    "Memory each sandbox run may use, /tmp and the build tree included, such as 8G (default: " +
                        std::string(kDefaultMemory) + "; rootless: each process's address space)");
  build
      ->add_option("--scratch-size", args.scratch_size,
                   "Size of the tmpfs each sandbox run builds in (the module's tree; counted in --memory)")
      ->capture_default_str();
  build
      ->add_option("--output-limit", args.output_limit,
                   "What each sandbox run may leave in its output dir (/out, on the host's $TMPDIR); a run "
                   "past it is killed")
      ->capture_default_str();
  build
      ->add_option("--log-limit", args.log_limit,
                   "Output of each sandbox run kept in its log; the rest is dropped and counted")
      ->capture_default_str();
  build->add_option(
      "--pids-limit", args.pids_limit,
      fmt::format("Processes each sandbox run may have at once (default: {}; rootless: all of the user's)",
                  kDefaultPidsLimit));
  build->add_flag("--force", args.force, "Build even when the output already holds the same build");
  add_registry_flags(build, args.registry);
  app.on(build, [&app] {
    stop_on_signals();
    bool built = false;
    try {
      built = run_build(app, args);
    } catch (const Error&) {
      if (const int signal = builder::stop_requested()) exit_stopped(signal);
      throw;
    }
    if (const int signal = builder::stop_requested()) exit_stopped(signal);
    if (!built) {
      // The summary (or the --json document) already says which kernels failed and why;
      // only the exit status is left to give, and App::run would print a second report.
      std::fflush(nullptr);
      std::exit(kExitFailure);
    }
  });
}

}  // namespace ckms::cli
