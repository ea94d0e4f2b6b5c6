// fork/exec rather than posix_spawn: the child needs setrlimit and its own process group
// (so a timeout kills the whole build, not just make). Everything the child touches is
// prepared before fork, since only async-signal-safe calls are allowed after it.

#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <thread>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/base/process.hpp"
#include "ckms/builder/sandbox_process.hpp"
#include "ckms/builder/sandbox_run.hpp"
#include "ckms/builder/stop.hpp"

extern char** environ;

namespace ckms::builder {
namespace {

int rlimit_resource(const std::string& type) {
  static const std::map<std::string, int> names = {
      {"RLIMIT_AS", RLIMIT_AS},       {"RLIMIT_CORE", RLIMIT_CORE},   {"RLIMIT_CPU", RLIMIT_CPU},
      {"RLIMIT_DATA", RLIMIT_DATA},   {"RLIMIT_FSIZE", RLIMIT_FSIZE}, {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_NPROC", RLIMIT_NPROC}, {"RLIMIT_STACK", RLIMIT_STACK}, {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}};
  const auto it = names.find(type);
  if (it == names.end()) fail(ErrorKind::usage, "sandbox: unknown rlimit {}", type);
  return it->second;
}

// PATH from a replacement environment, so an in-place run finds the image's tools.
std::string resolve(const std::string& program, const std::optional<std::vector<std::string>>& env) {
  if (program.find('/') != std::string::npos) return program;
  std::optional<std::string> saved;
  if (env) {
    for (const auto& entry : *env)
      if (entry.starts_with("PATH=")) saved = entry.substr(5);
  }
  if (saved) {
    std::string_view path = *saved;
    while (!path.empty()) {
      const auto colon = path.find(':');
      const std::filesystem::path candidate = std::filesystem::path(std::string(path.substr(0, colon))) / program;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      if (colon == std::string_view::npos) break;
      path.remove_prefix(colon + 1);
    }
    fail(ErrorKind::not_found, "sandbox command {} not found in PATH={}", program, *saved);
  }
  if (auto found = find_program(program)) return *found;
  fail(ErrorKind::not_found, "sandbox command {} not found in PATH", program);
}

}  // namespace

pid_t spawn_child(const std::vector<std::string>& argv, const ChildOptions& options) {
  if (argv.empty()) fail(ErrorKind::usage, "sandbox: empty command");
  const std::string program = resolve(argv[0], options.env);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  if (options.env) {
    for (const auto& e : *options.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
  }
  std::vector<std::pair<int, rlimit>> limits;
  for (const auto& r : options.rlimits) limits.emplace_back(rlimit_resource(r.type), rlimit{r.soft, r.hard});
  ckms::UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull) fail_errno("open /dev/null");
  const int out_fd = options.log_fd >= 0 ? options.log_fd : devnull.get();
  const char* cwd = options.cwd ? options.cwd->c_str() : nullptr;
  char* const* child_env = options.env ? envp.data() : environ;
  const sock_fprog seccomp{static_cast<unsigned short>(options.seccomp.size()),
                           const_cast<sock_filter*>(options.seccomp.data())};

  const pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork for " + argv[0]);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(devnull.get(), 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    for (const auto& [resource, value] : limits)
      if (::setrlimit(resource, &value) != 0) ::_exit(126);
    if (cwd && ::chdir(cwd) != 0) ::_exit(126);
    // Last, so that only exec itself runs under the filter: nothing it denies is needed here.
    if (seccomp.len != 0 && (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
                             ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &seccomp) != 0)) {
      ::_exit(126);
    }
    ::execve(program.c_str(), args.data(), child_env);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so a kill right after spawn reaches the group
  return pid;
}

std::optional<int> wait_child(pid_t pid, std::chrono::steady_clock::time_point deadline, bool stoppable) {
  // A pidfd lets poll() sleep until exit or deadline, without a busy loop or SIGCHLD.
  ckms::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (done < 0 && errno != EINTR) fail_errno("waitpid " + std::to_string(pid));
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || (stoppable && stop_requested() != 0)) return std::nullopt;
    const int slice = static_cast<int>(std::min<long long>(left.count(), 250));
    if (pidfd) {
      pollfd p{pidfd.get(), POLLIN, 0};
      ::poll(&p, 1, slice);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(slice, 50)));
    }
  }
}

int run_child(const std::vector<std::string>& argv, int log_fd, std::chrono::seconds limit) {
  ChildOptions options;
  options.log_fd = log_fd;
  const pid_t pid = spawn_child(argv, options);
  if (auto code = wait_child(pid, std::chrono::steady_clock::now() + limit)) return *code;
  ::kill(-pid, SIGKILL);
  return wait_child(pid, std::chrono::steady_clock::time_point::max()).value_or(-1);
}

}  // namespace ckms::builder
