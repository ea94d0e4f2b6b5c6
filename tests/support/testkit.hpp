#pragma once
// Shared helpers for tests that drive real programs: scratch directories, subprocesses,
// free loopback ports, skips for what a machine lacks.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ckms/base/temp_dir.hpp"

namespace ckms::testkit {

// Tests' scratch directories are base's: removed with everything in it, also what a test
// left unwritable.
using ckms::TempDir;

struct RunResult {
  int exit_code = -1;  // 128+N when killed by signal N
  int pid = 0;         // the child's, which ckms puts in the names of its containers and cgroups
  std::string out;
  std::string err;
};

struct RunOptions {
  std::optional<std::filesystem::path> cwd;
  std::map<std::string, std::string> env;  // added to (or overriding) the inherited environment
  std::optional<std::string> input;        // standard input; /dev/null when absent
  int timeout_seconds = 600;               // the child is killed after this
};

// Runs argv[0] (searched in PATH) without a shell.
RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {});

// Path of the ckms binary under test.
std::filesystem::path ckms_binary();

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();

// Polls until something accepts connections on 127.0.0.1:port or the timeout passes.
bool wait_for_port(int port, int timeout_ms);

bool have_program(const std::string& name);

// A directory kept between test runs for large downloads (Debian packages, rootfs tarballs):
// $CKMS_TEST_CACHE, or <build dir>/test-cache.
std::filesystem::path download_cache();

// The machine's Debian archive sources (the .sources file signed by debian-archive-keyring),
// for mmdebstrap: the mirror is the machine's, never a host name written into a test.
std::filesystem::path debian_sources();

void write_text(const std::filesystem::path& file, const std::string& content);
std::string read_text(const std::filesystem::path& file);

}  // namespace ckms::testkit
