#pragma once
// Runs a program (searched in PATH) without a shell and waits for it; for the Debian tools
// ckms calls because they own what they do: `apt-get download` (apt knows the mirrors and
// keys) and `depmod` (kmod owns the module index format).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ckms {

struct ProcessResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string err;     // standard error, for the message when it fails
};

// `name` itself when it contains a slash, else the first executable match in $PATH.
std::optional<std::filesystem::path> find_program(const std::string& name);

ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd);

// Runs a program on the caller's terminal (standard input, output and error inherited), for
// one that asks its user something: mokutil asks for a one-time password. Returns its exit
// code (128+N when killed by signal N).
int run_interactive(const std::vector<std::string>& argv);

}  // namespace ckms
