#pragma once
// A loopback TCP proxy that cuts one connection in the middle of a transfer, as a flaky
// network would: the first connection whose bytes in one direction pass `cut_after` gets
// exactly `cut_after` of them through and is then closed on both sides. Every connection
// has its own thread, so a client may hold several at once (kept-alive ones included).

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <string>

#include "loopback_server.hpp"

namespace ckms::oci::test {

class CuttingProxy {
 public:
  enum class Direction { requests, replies };

  CuttingProxy(int upstream_port, Direction direction, std::size_t cut_after)
      : upstream_(upstream_port), direction_(direction), cut_after_(cut_after) {}
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  std::string authority() const { return server_.authority(); }
  int cuts() const { return cut_ ? 1 : 0; }

 private:
  void relay(int client) {
    const int server = testkit::LoopbackServer::connect_to(upstream_);
    if (server < 0) return;
    pump(client, server);
    ::close(server);
  }

  void pump(int client, int server) {
    std::size_t counted = 0;
    const int cut_side = direction_ == Direction::requests ? 0 : 1;  // 0: from the client
    char buffer[65536];
    while (!server_.stopping()) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(fds, 2, 100) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = ::recv(fds[i].fd, buffer, sizeof buffer, 0);
        if (n <= 0) return;
        std::size_t length = static_cast<std::size_t>(n);
        const int to = i == 0 ? server : client;
        if (i == cut_side) {
          if (counted + length > cut_after_ && !cut_.exchange(true)) {
            ::send(to, buffer, cut_after_ - counted, MSG_NOSIGNAL);
            return;
          }
          counted += length;
        }
        ::send(to, buffer, length, MSG_NOSIGNAL);
      }
    }
  }

  int upstream_;
  Direction direction_;
  std::size_t cut_after_;
  std::atomic<bool> cut_{false};
  testkit::LoopbackServer server_{[this](int client) { relay(client); }};
};

}  // namespace ckms::oci::test
