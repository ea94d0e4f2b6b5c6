#pragma once
// Handing a command to ckms-full, which links what the node binary leaves out.

namespace ckms::cli {

// Replaces this process with ckms-full running the same command line (same pid, so
// signals, exit codes and supervisors see one process); returns only by exiting on failure.
[[noreturn]] void hand_over(char** argv);

}  // namespace ckms::cli
