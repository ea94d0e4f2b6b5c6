#pragma once
// A docker-registry (distribution) on a loopback port for the length of a test, with its
// log kept so tests can count what was uploaded.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "testkit.hpp"

extern char** environ;

namespace ckms::testing {

class LocalRegistry {
 public:
  explicit LocalRegistry(const std::filesystem::path& dir) : port_(testkit::free_port()), log_(dir / "registry.log") {
    const auto config = dir / "registry.yml";
    testkit::write_text(config, fmt::format("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n"
                                            "http:\n  addr: 127.0.0.1:{}\n",
                                            (dir / "registry-data").string(), port_));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::string program = "docker-registry", serve = "serve", config_path = config.string();
    char* argv[] = {program.data(), serve.data(), config_path.data(), nullptr};
    const int error = ::posix_spawnp(&pid_, argv[0], &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(error == 0);
    REQUIRE(testkit::wait_for_port(port_, 10000));
  }
  ~LocalRegistry() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  LocalRegistry(const LocalRegistry&) = delete;
  LocalRegistry& operator=(const LocalRegistry&) = delete;

  std::string host() const { return fmt::format("127.0.0.1:{}", port_); }
  std::string log() const { return testkit::read_text(log_); }

 private:
  int port_;
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

}  // namespace ckms::testing
