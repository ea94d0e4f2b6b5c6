#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace ckms::cli {

std::string human_size(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

ProgressPrinter::ProgressPrinter(bool quiet) : quiet_(quiet), terminal_(::isatty(2) == 1) {}

void ProgressPrinter::started(const oci::Descriptor&) {}

void ProgressPrinter::advanced(const oci::Descriptor& blob, std::uint64_t bytes_so_far) {
  if (quiet_ || !terminal_) return;
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double fraction = blob.size > 0 ? static_cast<double>(bytes_so_far) / static_cast<double>(blob.size) : 1.0;
  const int filled = static_cast<int>(fraction * 30);
  fmt::print(stderr, "\r{} [{:<30}] {:>10} / {:<10}", blob.digest.hex().substr(0, 12),
             std::string(static_cast<std::size_t>(filled), '#'), human_size(bytes_so_far),
             human_size(static_cast<std::uint64_t>(blob.size)));
}

void ProgressPrinter::finished(const oci::Descriptor& blob, Outcome outcome) {
  if (quiet_) return;
  std::lock_guard lock(mutex_);
  const char* verb = outcome == Outcome::copied ? "copied" : outcome == Outcome::mounted ? "mounted" : "exists";
  fmt::print(stderr, "{}{} {} {} ({})\n", terminal_ ? "\r\033[K" : "", verb, blob.digest.hex().substr(0, 12),
             blob.media_type, human_size(static_cast<std::uint64_t>(blob.size)));
}

}  // namespace ckms::cli
