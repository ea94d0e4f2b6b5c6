#pragma once
// Runs a program (searched in PATH) without a shell and waits for it; for the Debian tools
// ckms calls because they own what they do: `apt-get download` (apt knows the mirrors and
// keys) and `depmod` (kmod owns the module index format).

#include <filesystem>
#include <string>
#include <vector>

namespace ckms {

struct ProcessResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string err;     // standard error, for the message when it fails
};

ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd);

}  // namespace ckms
