// The registry checks' own bounds, against loopback sockets that misbehave on purpose.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include <fmt/format.h>

#include "ckms/operator/artifacts.hpp"
#include "ckms/operator/kernel_module.hpp"

using namespace ckms::op;
using namespace std::chrono_literals;

namespace {

int connect_nonblocking(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  return fd;
}

// A listening socket that never accepts, its accept queue filled: the kernel drops further
// SYNs, so a connect to it neither succeeds nor fails (as a registry behind a firewall
// that drops packets, or a host that is gone).
struct UnacceptingSocket {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port = 0;
  std::vector<int> fillers;
  UnacceptingSocket() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 0) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot listen");
    port = ntohs(addr.sin_port);
    for (int i = 0; i < 4; ++i) fillers.push_back(connect_nonblocking(port));
  }
  ~UnacceptingSocket() {
    for (const int f : fillers) ::close(f);
    ::close(fd);
  }
  // True when one more connection is left hanging for `wait`.
  bool connect_hangs(std::chrono::milliseconds wait) const {
    const int probe = connect_nonblocking(port);
    pollfd p{probe, POLLOUT, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(wait.count()));
    ::close(probe);
    return ready == 0;
  }
};

KernelModuleSpec spec_for(int port) {
  KernelModuleSpec spec;
  spec.repository = fmt::format("127.0.0.1:{}/ckms/ckms-hello", port);
  spec.version = "1.0.0";
  spec.registry.plain_http = true;
  return spec;
}

}  // namespace

TEST_CASE("registry checks: connecting is bounded within the check's deadline", "[operator][artifacts]") {
  UnacceptingSocket socket;
  REQUIRE(socket.connect_hangs(300ms));  // what the test relies on
  ckms::oci::RegistryOptions options;
  options.initial_backoff = 20ms;
  options.auth_file = "/nonexistent/ckms-no-credentials.json";
  RegistryArtifactChecker checker(options, 3s);
  const std::vector<std::string> releases{"6.1.0-47-cloud-amd64", "6.1.0-56-cloud-amd64"};
  std::atomic<bool> stop{false};
  const auto start = std::chrono::steady_clock::now();
  const auto checks = checker.check("ckms-system/ckms-hello", spec_for(socket.port), releases, stop);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  REQUIRE(checks.size() == 2);
  for (const auto& [release, check] : checks) {
    INFO(release << ": " << check.message);
    CHECK(check.availability == Availability::unknown);
    CHECK(check.why == Silence::timeout);
    // libcurl's own connect timeout ended it, not the checker giving up at its deadline.
    CHECK_THAT(check.message, !Catch::Contains("no answer within"));
  }
}

TEST_CASE("registry checks: the connect timeout leaves room for every attempt", "[operator][artifacts]") {
  ckms::oci::RegistryOptions options;  // 30 s to connect, 4 attempts, 250 ms backoff doubling
  CHECK(connect_timeout_within(options, 20s) == (18000ms - 1750ms) / 4);
  options.max_attempts = 2;  // the operator's own
  CHECK(connect_timeout_within(options, 20s) == (18000ms - 250ms) / 2);
  options.connect_timeout = 2s;  // shorter already: kept
  CHECK(connect_timeout_within(options, 20s) == 2s);
  CHECK(connect_timeout_within(options, 100ms) == 100ms);  // a floor, not zero
}
