// Running a sandbox to completion. The container state is deleted on every path (exit,
// time limit, exception), so no stopped container or runc state outlives a build; when
// ckms itself is killed, the next run with the same state root does it (sandbox_owner).

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/builder/sandbox_bundle.hpp"
#include "ckms/builder/sandbox_process.hpp"
#include "ckms/builder/sandbox_run.hpp"
#include "ckms/builder/stop.hpp"
#include "log_pump.hpp"
#include "sandbox_cgroup.hpp"
#include "sandbox_owner.hpp"
#include "sandbox_seccomp.hpp"

namespace ckms::builder {
namespace {

using Clock = std::chrono::steady_clock;

// Unique among concurrent builds of this and other ckms processes sharing a state dir.
std::string container_id() {
  static std::atomic<unsigned> counter{0};
  std::random_device random;
  return fmt::format("ckms-{}-{}-{:08x}", ::getpid(), counter++, random());
}

ckms::UniqueFd open_log(const std::filesystem::path& log_file) {
  if (log_file.empty()) fail(ErrorKind::usage, "sandbox: no log file given");
  if (log_file.has_parent_path()) std::filesystem::create_directories(log_file.parent_path());
  ckms::UniqueFd fd(::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) fail_errno("open build log " + log_file.string());
  return fd;
}

void log_line(int fd, const std::string& line) {
  const std::string text = "ckms: " + line + "\n";
  ckms::write_all(fd, std::as_bytes(std::span(text)), "build log");
}

// Output trees nest no deeper than this; a deeper one counts as past the limit, so that
// measuring it needs neither deep recursion nor a file descriptor per level.
constexpr int kMaxOutputDepth = 32;
// Each entry counts at least one block, so that a mass of empty files counts too.
constexpr std::uint64_t kMinEntryBytes = 4096;

// Adds what the directory `dirfd` holds to `used`, without following symlinks, until
// `used` is past `limit`. A directory the build made unreadable is opened up first: ckms
// owns the tree (as root, or as the rootless build's own user).
void add_usage(int dirfd, int depth, std::uint64_t limit, std::uint64_t& used) {
  if (depth > kMaxOutputDepth) {
    used = limit + 1;
    return;
  }
  const int listing_fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* dir = listing_fd < 0 ? nullptr : ::fdopendir(listing_fd);
  if (dir == nullptr) {
    if (listing_fd >= 0) ::close(listing_fd);
    return;  // gone while the build runs
  }
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    struct stat st {};
    if (name == "." || name == ".." || ::fstatat(dirfd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    used += std::max<std::uint64_t>(static_cast<std::uint64_t>(st.st_blocks) * 512, kMinEntryBytes);
    if (used > limit) break;
    if (!S_ISDIR(st.st_mode)) continue;
    ckms::UniqueFd child(::openat(dirfd, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child && errno == EACCES && ::fchmodat(dirfd, entry->d_name, 0700, 0) == 0) {
      child = ckms::UniqueFd(::openat(dirfd, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (child) add_usage(child.get(), depth + 1, limit, used);
    if (used > limit) break;
  }
  ::closedir(dir);
}

bool output_over_limit(const SandboxSpec& spec) {
  if (spec.output_limit_bytes == 0 || spec.output_dir.empty()) return false;
  const ckms::UniqueFd root(::open(spec.output_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root) return false;
  std::uint64_t used = 0;
  add_usage(root.get(), 0, spec.output_limit_bytes, used);
  return used > spec.output_limit_bytes;
}

// Waits for the run's process as wait_child does, and also ends the wait when the output
// dir is past its limit (noted in `result`).
std::optional<int> wait_run(const SandboxSpec& spec, pid_t pid, Clock::time_point deadline, SandboxResult& result) {
  if (spec.output_limit_bytes == 0) return wait_child(pid, deadline, true);
  for (;;) {
    const auto slice = std::min(deadline, Clock::now() + std::chrono::milliseconds(250));
    if (auto code = wait_child(pid, slice, true)) return code;
    if (Clock::now() >= deadline || stop_requested() != 0) return std::nullopt;
    if (output_over_limit(spec)) {
      result.output_limit_reached = true;
      return std::nullopt;
    }
  }
}

// After the run: what it left counts too.
void check_output_at_end(const SandboxSpec& spec, SandboxResult& result) {
  if (!result.output_limit_reached && output_over_limit(spec)) result.output_limit_reached = true;
}

// Why a wait ended before the process did, recorded in `result`, for the log.
std::string interruption(const SandboxSpec& spec, SandboxResult& result) {
  if (const int signal = stop_requested()) {
    result.stopped_by = signal;
    return fmt::format("ckms got signal {} ({})", signal, ::strsignal(signal));
  }
  if (result.output_limit_reached) {
    return fmt::format("the output dir holds more than its limit of {} bytes", spec.output_limit_bytes);
  }
  result.timed_out = true;
  return fmt::format("time limit of {} s reached", spec.time_limit.count());
}

// Deletes the container and its bundle however the run ended.
class ContainerGuard {
 public:
  ContainerGuard(std::vector<std::string> runc, std::string id, std::filesystem::path bundle,
                 std::filesystem::path state)
      : runc_(std::move(runc)), id_(std::move(id)), bundle_(std::move(bundle)), state_(std::move(state)) {}
  ~ContainerGuard() {
    try {
      auto argv = runc_;
      argv.insert(argv.end(), {"delete", "--force", id_});
      run_child(argv, -1, std::chrono::seconds(30));
    } catch (...) {
      // Destructors must not throw; the state dir removal below still cleans up.
    }
    std::error_code ec;
    std::filesystem::remove_all(bundle_, ec);
    std::filesystem::remove_all(state_, ec);
  }
  ContainerGuard(const ContainerGuard&) = delete;
  ContainerGuard& operator=(const ContainerGuard&) = delete;

 private:
  std::vector<std::string> runc_;
  std::string id_;
  std::filesystem::path bundle_;
  std::filesystem::path state_;
};

// runc's --root: shared, so a later run can stop what a dead one left; else private.
std::filesystem::path runc_root_for(const SandboxSpec& spec, const std::filesystem::path& private_root,
                                    std::optional<SandboxStateRoot>& shared) {
  if (!spec.state_root.empty()) {
    shared.emplace(std::filesystem::absolute(spec.state_root));
    std::filesystem::create_directories(shared->runc);
    std::filesystem::permissions(shared->runc, std::filesystem::perms::owner_all);
    return shared->runc;
  }
  if (::mkdir(private_root.c_str(), 0700) != 0) fail_errno("create runc state dir " + private_root.string());
  return private_root;
}

// The spec runc gets: rootful with limits, they go to a build cgroup of ours when one can
// be made (then `cgroup` holds it).
SandboxSpec with_cgroup(const SandboxSpec& spec, const std::string& id, std::optional<BuildCgroup>& cgroup) {
  SandboxSpec config = spec;
  if (effective_mode(spec) == SandboxMode::rootful && (spec.memory_limit_bytes || spec.pids_limit)) {
    cgroup.emplace(id, spec.memory_limit_bytes, spec.pids_limit);
    if (cgroup->active()) {
      config.cgroups_path = cgroup->runc_path();
      config.memory_limit_bytes.reset();
      config.pids_limit.reset();
    } else if (!config.cgroups_path) {
      config.cgroups_path = "/ckms/" + id;  // cgroup v2: runc sets the limits itself
    }
  }
  return config;
}

// Waits for `runc run` until the time limit or a stop request, then kills the container.
int wait_or_kill(pid_t pid, Clock::time_point start, const std::vector<std::string>& runc, const std::string& id,
                 const SandboxSpec& spec, int log_fd, SandboxResult& result) {
  std::optional<int> code = wait_run(spec, pid, start + spec.time_limit, result);
  if (code) return *code;
  log_line(log_fd, fmt::format("{}, killing container {}", interruption(spec, result), id));
  auto kill = runc;
  kill.insert(kill.end(), {"kill", id, "KILL"});
  run_child(kill, log_fd, std::chrono::seconds(30));
  // `runc run` returns once the container's init is gone; if runc itself hangs, the
  // guard's `delete --force` still removes the container.
  code = wait_child(pid, Clock::now() + std::chrono::seconds(30));
  if (code) return *code;
  ::kill(-pid, SIGKILL);
  return *wait_child(pid, Clock::time_point::max());
}

}  // namespace

SandboxResult run_sandbox(const SandboxSpec& spec) {
  if (spec.work_dir.empty()) fail(ErrorKind::usage, "sandbox: no work dir given");
  const std::filesystem::path runtime = detect_runtime(spec.runtime);
  const std::string id = container_id();
  const auto work = std::filesystem::absolute(spec.work_dir);
  const auto bundle = work / (id + ".bundle");
  std::filesystem::create_directories(work);
  // Container root (an unmapped host uid in rootful mode) must traverse to the bind
  // mount sources and the bundle; it gets search permission only, not listing.
  std::filesystem::permissions(work, std::filesystem::perms::others_exec | std::filesystem::perms::group_exec,
                               std::filesystem::perm_options::add);
  ckms::UniqueFd log = open_log(spec.log_file);

  std::optional<SandboxStateRoot> shared;
  const std::filesystem::path runc_root = runc_root_for(spec, work / (id + ".state"), shared);
  const std::vector<std::string> runc = {runtime.string(), "--root", runc_root.string()};
  if (shared) {
    for (const auto& stale : reap_stale_sandboxes(runc, *shared, log.get())) {
      log_line(log.get(), fmt::format("stopped container {}, left running by a ckms that is gone", stale));
    }
  }
  std::optional<SandboxOwner> owner;
  if (shared) owner.emplace(*shared, id);
  // Declared before the guard: removed after the container is.
  std::optional<BuildCgroup> cgroup;
  const SandboxSpec config = with_cgroup(spec, id, cgroup);
  // Joined after the guard has deleted the container, the last writer of its pipe.
  LogPump pump(log.get(), spec.log_limit_bytes);
  ContainerGuard guard(runc, id, bundle, shared ? runc_root / id : runc_root);
  write_bundle(config, bundle);

  auto argv = runc;
  argv.insert(argv.end(), {"run", "--bundle", bundle.string(), id});
  SandboxResult result;
  result.log_file = spec.log_file;
  const auto start = Clock::now();
  ChildOptions options;
  options.log_fd = pump.writer();
  const pid_t pid = spawn_child(argv, options);
  pump.close_writer();
  result.exit_code = wait_or_kill(pid, start, runc, id, spec, log.get(), result);
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  check_output_at_end(spec, result);
  if (cgroup) {
    result.memory_limit_reached = cgroup->memory_limit_reached();
    result.pids_limit_reached = cgroup->pids_limit_reached();
  }
  return result;
}

SandboxResult run_in_place(const SandboxSpec& spec) {
  ckms::UniqueFd log = open_log(spec.log_file);
  SandboxResult result;
  result.log_file = spec.log_file;
  const auto start = Clock::now();
  ChildOptions options;
  options.env = spec.env;
  options.cwd = spec.cwd;
  options.rlimits = spec.rlimits;
  // No namespaces here, but the same syscalls are refused as under runc.
  options.seccomp = seccomp_program();
  std::optional<LogPump> pump(std::in_place, log.get(), spec.log_limit_bytes);
  options.log_fd = pump->writer();
  const pid_t pid = spawn_child(spec.argv, options);
  pump->close_writer();
  std::optional<int> code = wait_run(spec, pid, start + spec.time_limit, result);
  if (!code) {
    log_line(log.get(), fmt::format("{}, killing {}", interruption(spec, result), spec.argv.front()));
    ::kill(-pid, SIGKILL);
    code = wait_child(pid, Clock::time_point::max());
  }
  // Its process group is gone; anything that left the group and still holds the pipe
  // keeps only the log open, not the result.
  ::kill(-pid, SIGKILL);
  pump.reset();
  result.exit_code = *code;
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  check_output_at_end(spec, result);
  return result;
}

}  // namespace ckms::builder
