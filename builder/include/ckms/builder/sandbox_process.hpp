#pragma once
// A child process with its output going to a log, in its own process group, waited for
// against a deadline: what both the runc and the in-place sandbox run.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <linux/filter.h>
#include <sys/types.h>

#include "ckms/builder/sandbox.hpp"

namespace ckms::builder {

struct ChildOptions {
  std::optional<std::vector<std::string>> env;  // replaces the environment when set
  std::optional<std::string> cwd;
  std::vector<SandboxRlimit> rlimits;  // applied with setrlimit in the child
  int log_fd = -1;                     // stdout and stderr; /dev/null when < 0
  // Loaded with NoNewPrivs in the child just before exec, when not empty.
  std::vector<sock_filter> seccomp;
};

// Starts argv (argv[0] searched in PATH, of `env` when given). Throws naming the command.
pid_t spawn_child(const std::vector<std::string>& argv, const ChildOptions& options);

// Waits for `pid` until `deadline`; the exit code (128+N for signal N), or nothing when
// the deadline passed first (the child is left running). A `stoppable` wait also returns
// nothing once stop_requested() (stop.hpp): builds are stoppable, cleanups are not.
std::optional<int> wait_child(pid_t pid, std::chrono::steady_clock::time_point deadline, bool stoppable = false);

// Runs argv to completion (bounded by `limit`, then killed) with output to `log_fd`.
int run_child(const std::vector<std::string>& argv, int log_fd, std::chrono::seconds limit);

}  // namespace ckms::builder
