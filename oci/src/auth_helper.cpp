// docker-credential-<name> helpers: `get` reads the server URL on stdin and prints
// {"ServerURL","Username","Secret"}; "credentials not found" on stdout with a non-zero exit
// means the helper simply has nothing for that host.

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/auth_credentials.hpp"

extern char** environ;

namespace ckms::oci {
namespace {

constexpr std::size_t kMaxHelperOutput = 1 << 20;

struct HelperResult {
  int status = -1;
  std::string out;
};

HelperResult run_helper(const std::string& program, const std::string& input) {
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) fail_errno("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  std::string arg0 = program, arg1 = "get";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    fail(ErrorKind::auth, "cannot run credential helper {}: {}", program, std::strerror(rc));
  }
  // The input is one host name: far below the pipe buffer, so writing first cannot block.
  // A helper that exits without reading must not kill us with SIGPIPE.
  sigset_t pipe_signal, previous;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous);
  const bool fed = ::write(in_pipe[1], input.data(), input.size()) == static_cast<ssize_t>(input.size());
  if (!fed && errno == EPIPE) {
    const timespec no_wait{};
    sigtimedwait(&pipe_signal, nullptr, &no_wait);
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::close(in_pipe[1]);
  HelperResult result;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(out_pipe[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (result.out.size() + static_cast<std::size_t>(n) <= kMaxHelperOutput)
      result.out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace

std::optional<Credentials> run_credential_helper(const std::string& helper, const std::string& host) {
  const std::string program = "docker-credential-" + helper;
  const HelperResult result = run_helper(program, host);
  if (result.status != 0) {
    if (result.out.find("credentials not found") != std::string::npos) return std::nullopt;
    fail(ErrorKind::auth, "{} get {} failed (exit {}): {}", program, host, result.status, result.out.substr(0, 200));
  }
  try {
    const auto reply = nlohmann::json::parse(result.out);
    Credentials credentials;
    credentials.username = reply.value("Username", "");
    const std::string secret = reply.value("Secret", "");
    // Helpers signal an identity token with the username "<token>".
    if (credentials.username == "<token>") {
      credentials.username.clear();
      credentials.identity_token = secret;
    } else {
      credentials.password = secret;
    }
    return credentials;
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::auth, "{} get {}: unreadable reply: {}", program, host, e.what());
  }
}

}  // namespace ckms::oci
