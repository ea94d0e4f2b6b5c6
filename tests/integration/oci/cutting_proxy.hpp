#pragma once
// A loopback TCP proxy that cuts one connection in the middle of a transfer, as a flaky
// network would: the first connection whose bytes in one direction pass `cut_after` gets
// exactly `cut_after` of them through and is then closed on both sides. Every connection
// has its own thread, so a client may hold several at once (kept-alive ones included).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <thread>

namespace ckms::oci::test {

class CuttingProxy {
 public:
  enum class Direction { requests, replies };

  CuttingProxy(int upstream_port, Direction direction, std::size_t cut_after)
      : upstream_(upstream_port), direction_(direction), cut_after_(cut_after) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = loopback(0);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listener_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { serve(); });
  }
  ~CuttingProxy() {
    stop_ = true;
    acceptor_.join();
    for (auto& connection : connections_) connection.join();
    ::close(listener_);
  }
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }
  int cuts() const { return cut_ ? 1 : 0; }

 private:
  static sockaddr_in loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    return addr;
  }

  void serve() {
    while (!stop_) {
      pollfd pfd{listener_, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      connections_.emplace_back([this, client] {
        const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr = loopback(upstream_);
        if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) pump(client, server);
        ::close(server);
        ::close(client);
      });
    }
  }

  void pump(int client, int server) {
    std::size_t counted = 0;
    const int cut_side = direction_ == Direction::requests ? 0 : 1;  // 0: from the client
    char buffer[65536];
    while (!stop_) {
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
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_{false};
  std::thread acceptor_;
  std::list<std::thread> connections_;  // touched by the acceptor thread until it is joined
};

}  // namespace ckms::oci::test
