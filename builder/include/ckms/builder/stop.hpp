#pragma once
// Stopping the builds of this process early, when `ckms build` gets SIGINT or SIGTERM: every
// sandbox wait sees the request within a second, stops its container (runc kill, then
// delete) and reports the run as stopped; kernels not started yet are not started.

namespace ckms::builder {

// Async-signal-safe: meant to be called from a signal handler. `signal` is kept for the
// exit status (128 + signal).
void request_stop(int signal) noexcept;

// The signal that asked to stop, or 0.
int stop_requested() noexcept;

}  // namespace ckms::builder
