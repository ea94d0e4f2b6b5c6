#pragma once
// A program started in the background for crash tests: output to /dev/null, its own
// environment additions, and SIGKILL at the moment the test picks. A process still running
// when this is destroyed is killed.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ckms::testkit {

class BackgroundProcess {
 public:
  // argv[0] is a path; `env` is added to (or overrides) the inherited environment.
  explicit BackgroundProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Polls `ready` every 10 ms until it holds (true), or the process ended or `limit` passed
  // first (false).
  bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds limit = std::chrono::minutes(1));

  // SIGKILL and wait; true when it was still running and died of it.
  bool kill();

  // Sends `signal` and waits up to `limit` for the process to end: its exit code (128+N when
  // a signal N ended it), or nothing when it still runs (the destructor kills it then).
  std::optional<int> signal_and_wait(int signal, std::chrono::milliseconds limit = std::chrono::minutes(1));

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

}  // namespace ckms::testkit
