#include "log_pump.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "ckms/base/error.hpp"

namespace ckms::builder {

LogPump::LogPump(int log_fd, std::uint64_t limit) : log_fd_(log_fd), limit_(limit) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail_errno("create the build log pipe");
  read_ = ckms::UniqueFd(fds[0]);
  write_ = ckms::UniqueFd(fds[1]);
  thread_ = std::jthread([this] { run(); });
}

LogPump::~LogPump() {
  close_writer();
  // A process that left the build's process group may hold the pipe open for ever: what it
  // writes after a second of grace is not waited for.
  stop_after_.store(Clock::now() + std::chrono::seconds(1));
  if (thread_.joinable()) thread_.join();
}

void LogPump::run() {
  char buffer[64 << 10];
  std::uint64_t kept = 0, dropped = 0;
  for (;;) {
    pollfd ready{read_.get(), POLLIN, 0};
    if (::poll(&ready, 1, 100) == 0) {
      if (Clock::now() > stop_after_.load()) break;
      continue;
    }
    const ssize_t n = ::read(read_.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const auto size = static_cast<std::uint64_t>(n);
    const std::uint64_t keep = kept < limit_ ? std::min(size, limit_ - kept) : 0;
    // The log is for people: a write that fails loses log lines, not the build.
    for (std::uint64_t done = 0; done < keep;) {
      const ssize_t w = ::write(log_fd_, buffer + done, keep - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      done += static_cast<std::uint64_t>(w);
    }
    kept += keep;
    dropped += size - keep;
  }
  if (dropped > 0) {
    const std::string note =
        fmt::format("\nckms: the log was cut at {} bytes; {} bytes more output were dropped\n", limit_, dropped);
    [[maybe_unused]] const ssize_t w = ::write(log_fd_, note.data(), note.size());
  }
}

}  // namespace ckms::builder
