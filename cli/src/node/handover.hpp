#pragma once
// Handing a command to ckms-full, which links what the node binary leaves out.

#include <string_view>

namespace ckms::cli {

// Replaces this process with ckms-full running the same command line (same pid, so
// signals, exit codes and supervisors see one process); returns only by exiting on failure.
// `why` completes "... needs ckms-full" when ckms-full is missing; "this command" if empty.
[[noreturn]] void hand_over(char** argv, std::string_view why = "");

}  // namespace ckms::cli
