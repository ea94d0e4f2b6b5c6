#pragma once
// Progress for long transfers: a redrawn bar per blob on a terminal, one plain line per blob
// otherwise (logs, CI), nothing with --quiet. Always on stderr, so stdout stays for results.

#include <chrono>
#include <mutex>

#include "ckms/oci/copy.hpp"

namespace ckms::cli {

class ProgressPrinter final : public oci::CopyObserver {
 public:
  explicit ProgressPrinter(bool quiet);
  void started(const oci::Descriptor& blob) override;
  void advanced(const oci::Descriptor& blob, std::uint64_t bytes_so_far) override;
  void finished(const oci::Descriptor& blob, Outcome outcome) override;

 private:
  bool quiet_;
  bool terminal_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_draw_{};
};

std::string human_size(std::uint64_t bytes);

}  // namespace ckms::cli
