#pragma once
// Runs a program (searched in PATH) without a shell and waits for it; used for
// `apt-get download`, the one Debian tool ckms calls, because apt knows the mirrors and keys.

#include <filesystem>
#include <string>
#include <vector>

namespace ckms::images {

struct ProcessResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string err;     // standard error, for the message when it fails
};

ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd);

}  // namespace ckms::images
