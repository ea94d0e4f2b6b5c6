#pragma once
// The build's stdout and stderr on their way to the kept log, through a pipe: at most
// `limit` bytes are kept, the rest is read and counted but dropped, so a build that
// prints without end neither fills the disk nor blocks on a full pipe.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "ckms/base/io.hpp"

namespace ckms::builder {

class LogPump {
 public:
  LogPump(int log_fd, std::uint64_t limit);
  // Closes the write end and waits until every writer has closed its copy.
  ~LogPump();
  LogPump(const LogPump&) = delete;
  LogPump& operator=(const LogPump&) = delete;

  // For the child's stdout and stderr; close_writer() once the child has it.
  int writer() const { return write_.get(); }
  void close_writer() { write_ = ckms::UniqueFd(); }

 private:
  void run();

  int log_fd_;
  std::uint64_t limit_;
  ckms::UniqueFd read_, write_;
  using Clock = std::chrono::steady_clock;
  std::atomic<Clock::time_point> stop_after_{Clock::time_point::max()};
  std::jthread thread_;
};

}  // namespace ckms::builder
