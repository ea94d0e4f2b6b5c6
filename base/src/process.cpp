#include "ckms/base/process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>

#include <array>
#include <cstdlib>
#include <string_view>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

extern char** environ;

namespace ckms {
namespace {

int wait_for(pid_t pid, const std::string& program) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail_errno(fmt::format("waiting for {}", program));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

pid_t spawn(const std::vector<std::string>& argv, const posix_spawn_file_actions_t* actions) {
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawn_error = ::posix_spawnp(&pid, args[0], actions, nullptr, args.data(), environ);
  if (spawn_error != 0) {
    errno = spawn_error;
    fail_errno(fmt::format("cannot run {}", argv[0]));
  }
  return pid;
}

}  // namespace

std::optional<std::filesystem::path> find_program(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return std::filesystem::path(name);
    return std::nullopt;
  }
  const char* env = std::getenv("PATH");
  std::string_view path = env ? env : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  while (!path.empty()) {
    const auto colon = path.find(':');
    const auto dir = std::filesystem::path(std::string(path.substr(0, colon)));
    if (!dir.empty() && ::access((dir / name).c_str(), X_OK) == 0) return dir / name;
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

int run_interactive(const std::vector<std::string>& argv) { return wait_for(spawn(argv, nullptr), argv[0]); }

ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) fail_errno("pipe");
  ckms::UniqueFd read_end(pipe_fds[0]);
  ckms::UniqueFd write_end(pipe_fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());

  pid_t pid = 0;
  try {
    pid = spawn(argv, &actions);
  } catch (const Error&) {
    posix_spawn_file_actions_destroy(&actions);
    throw;
  }
  posix_spawn_file_actions_destroy(&actions);
  write_end = ckms::UniqueFd();

  ProcessResult result;
  std::array<char, 4096> buffer{};
  for (;;) {
    const ssize_t n = ::read(read_end.get(), buffer.data(), buffer.size());
    if (n > 0) {
      result.err.append(buffer.data(), static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  result.exit_code = wait_for(pid, argv[0]);
  return result;
}

}  // namespace ckms
