#include "ckms/builder/stop.hpp"

#include <atomic>

namespace ckms::builder {
namespace {

// Lock-free, so storing it from a signal handler is safe.
std::atomic<int> requested{0};
static_assert(std::atomic<int>::is_always_lock_free);

}  // namespace

void request_stop(int signal) noexcept { requested.store(signal, std::memory_order_relaxed); }

int stop_requested() noexcept { return requested.load(std::memory_order_relaxed); }

}  // namespace ckms::builder
