#pragma once
// An HTTP-aware loopback proxy between ckms and a real registry that injects the faults of a
// bad network or an overloaded registry into single requests: a reset in the middle of a
// body, 500/502/503 replies, 429 with Retry-After, a body cut short under a correct
// Content-Length, a stalled read, a flipped byte, and a slow link. Every request is sent
// upstream with "Connection: close" and its connection closed after the reply, so the
// proxy sees request boundaries without decoding bodies. Which requests suffer is decided
// by a seeded generator, at most `budget` times per run: reproducible up to the order in
// which concurrent requests arrive.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include "loopback_server.hpp"

namespace ckms::faults {

enum class Fault { none, reset, status_500, status_502, status_503, status_429, truncate, stall, flip, slow };

inline const char* fault_name(Fault fault) {
  switch (fault) {
    case Fault::none: return "none";
    case Fault::reset: return "reset mid-body";
    case Fault::status_500: return "500";
    case Fault::status_502: return "502";
    case Fault::status_503: return "503";
    case Fault::status_429: return "429 Retry-After: 1";
    case Fault::truncate: return "truncated body";
    case Fault::stall: return "stalled read";
    case Fault::flip: return "flipped byte";
    case Fault::slow: return "slow link";
  }
  return "?";
}

struct FaultPlan {
  Fault fault = Fault::none;
  double probability = 0.3;  // per eligible request
  int budget = 2;            // injections at most, so retries can win
  unsigned seed = 1;
  std::chrono::milliseconds stall{1500};
  std::size_t slow_bytes_per_second = 4 << 20;
};

class FaultProxy {
 public:
  FaultProxy(int upstream_port, FaultPlan plan) : upstream_(upstream_port), plan_(plan), random_(plan.seed) {}
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::string authority() const { return server_.authority(); }
  int injected() const { return injected_; }
  int requests() const { return requests_; }

 private:
  struct Head {
    std::string text;  // up to and including the blank line
    std::string rest;  // bytes that followed it
  };

  static std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  }

  // The value of a header in a head, by lower-case name.
  static std::optional<std::string> header(const std::string& head, std::string_view name) {
    const std::string text = lower(head);
    const std::string key = "\r\n" + std::string(name) + ":";
    const auto at = text.find(key);
    if (at == std::string::npos) return std::nullopt;
    auto begin = at + key.size();
    const auto end = text.find("\r\n", begin);
    while (begin < end && head[begin] == ' ') ++begin;
    return head.substr(begin, end - begin);
  }

  bool read_head(int fd, Head& head) {
    char buffer[16384];
    while (!server_.stopping()) {
      const auto end = head.text.find("\r\n\r\n");
      if (end != std::string::npos) {
        head.rest = head.text.substr(end + 4);
        head.text.resize(end + 4);
        return true;
      }
      if (head.text.size() > (1 << 20)) return false;
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return false;
      head.text.append(buffer, static_cast<std::size_t>(n));
    }
    return false;
  }

  // Request heads go upstream with "Connection: close" in place of any Connection header.
  static std::string close_after(const std::string& head) {
    std::string out;
    std::size_t pos = 0;
    while (pos < head.size()) {
      const auto end = head.find("\r\n", pos);
      const std::string line = head.substr(pos, end - pos);
      pos = end + 2;
      if (line.empty()) break;
      if (lower(line).starts_with("connection:")) continue;
      out += line + "\r\n";
    }
    return out + "Connection: close\r\n\r\n";
  }

  Fault draw() {
    std::lock_guard lock(mutex_);
    if (plan_.fault == Fault::none || plan_.fault == Fault::slow) return plan_.fault;
    if (injected_ >= plan_.budget) return Fault::none;
    if (std::uniform_real_distribution<double>(0, 1)(random_) >= plan_.probability) return Fault::none;
    return plan_.fault;
  }

  void count_injection() { ++injected_; }

  static void reset(int fd) {
    linger hard{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  }

  bool send_all(int fd, const char* data, std::size_t length, bool slow) {
    std::size_t sent = 0;
    while (sent < length && !server_.stopping()) {
      std::size_t piece = length - sent;
      if (slow) piece = std::min<std::size_t>(piece, 16384);
      const ssize_t n = ::send(fd, data + sent, piece, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
      if (slow) {
        std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long long>(n) * 1'000'000 /
                                                              static_cast<long long>(plan_.slow_bytes_per_second)));
      }
    }
    return sent == length;
  }

  void handle(int client) {
    Head request;
    if (!read_head(client, request)) return;
    ++requests_;
    const Fault fault = draw();
    const bool has_body = header(request.text, "content-length").value_or("0") != "0" ||
                          header(request.text, "transfer-encoding").has_value();
    const bool is_get = request.text.starts_with("GET ");
    const int status = fault == Fault::status_500   ? 500
                       : fault == Fault::status_502 ? 502
                       : fault == Fault::status_503 ? 503
                       : fault == Fault::status_429 ? 429
                                                    : 0;
    if (status != 0) {
      count_injection();
      std::string reply = "HTTP/1.1 " + std::to_string(status) + " Injected\r\nContent-Type: text/plain\r\n";
      if (status == 429) reply += "Retry-After: 1\r\n";
      reply += "Content-Length: 16\r\nConnection: close\r\n\r\ninjected failure";
      send_all(client, reply.data(), reply.size(), false);
      return;
    }

    const int server = testkit::LoopbackServer::connect_to(upstream_);
    if (server < 0) return;
    const std::string head = close_after(request.text);
    const bool slow = fault == Fault::slow;
    if (slow) count_injection();  // every request crosses the slow link
    if (!send_all(server, head.data(), head.size(), false) ||
        !send_all(server, request.rest.data(), request.rest.size(), slow)) {
      ::close(server);
      return;
    }
    // A reset hits an upload's body when there is one, else the reply's.
    const bool cut_request = fault == Fault::reset && has_body;
    std::size_t request_bytes = request.rest.size();
    const std::size_t request_cut =
        std::max<std::size_t>(std::stoull(header(request.text, "content-length").value_or("16384")) / 2, 1);

    std::string reply_head;
    bool head_done = false;
    std::size_t body_seen = 0, body_length = 0;
    bool body_fault = false;  // decided once the reply head is known
    char buffer[65536];
    while (!server_.stopping()) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(fds, 2, 100) <= 0) continue;
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        std::size_t length = static_cast<std::size_t>(n);
        if (cut_request && request_bytes + length >= request_cut) {
          send_all(server, buffer, request_cut > request_bytes ? request_cut - request_bytes : 0, false);
          count_injection();
          reset(client);
          reset(server);
          break;
        }
        request_bytes += length;
        if (!send_all(server, buffer, length, slow)) break;
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::recv(server, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        std::string_view chunk(buffer, static_cast<std::size_t>(n));
        if (!head_done) {
          reply_head.append(chunk);
          const auto end = reply_head.find("\r\n\r\n");
          if (end == std::string::npos) continue;
          head_done = true;
          std::string body = reply_head.substr(end + 4);
          reply_head.resize(end + 4);
          const bool ok = reply_head.starts_with("HTTP/1.1 200") || reply_head.starts_with("HTTP/1.1 206");
          body_length = std::stoull(header(reply_head, "content-length").value_or("0"));
          body_fault =
              is_get && ok && body_length > 1 && !cut_request &&
              (fault == Fault::reset || fault == Fault::truncate || fault == Fault::stall || fault == Fault::flip);
          if (!send_all(client, reply_head.data(), reply_head.size(), slow)) break;
          if (!forward_body(client, server, body, body_seen, body_length, body_fault ? fault : Fault::none, slow))
            break;
          continue;
        }
        std::string piece(chunk);
        if (!forward_body(client, server, piece, body_seen, body_length, body_fault ? fault : Fault::none, slow)) break;
      }
    }
    ::close(server);
  }

  // Sends one piece of a reply body, applying a body fault where the body's middle falls.
  // Returns false when the exchange ends here.
  bool forward_body(int client, int server, std::string& piece, std::size_t& seen, std::size_t length, Fault fault,
                    bool slow) {
    const std::size_t middle = length / 2;
    if (fault != Fault::none && seen <= middle && middle < seen + piece.size()) {
      const std::size_t before = middle - seen;
      switch (fault) {
        case Fault::flip:
          piece[before] = static_cast<char>(piece[before] ^ 0x01);
          count_injection();
          break;
        case Fault::reset:
        case Fault::truncate:
          send_all(client, piece.data(), before, slow);
          count_injection();
          if (fault == Fault::reset) reset(client);
          reset(server);
          return false;
        case Fault::stall: {
          if (!send_all(client, piece.data(), before, slow)) return false;
          count_injection();
          const auto until = std::chrono::steady_clock::now() + plan_.stall;
          while (!server_.stopping() && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
          seen += before;
          piece.erase(0, before);
          break;
        }
        default: break;
      }
    }
    seen += piece.size();
    return send_all(client, piece.data(), piece.size(), slow);
  }

  int upstream_;
  FaultPlan plan_;
  std::mutex mutex_;
  std::mt19937 random_;
  std::atomic<int> injected_{0};
  std::atomic<int> requests_{0};
  testkit::LoopbackServer server_{[this](int client) { handle(client); }};
};

}  // namespace ckms::faults
