#pragma once
// A Kubernetes API server for tests, on 127.0.0.1, over HTTP or TLS (OpenSSL, with a
// certificate made by the openssl tool): the REST paths, list paging, label selectors,
// watch streams (chunked JSON lines, bookmarks, 410 for compacted versions), optimistic
// concurrency (409 on a stale resourceVersion), status subresources and bearer-token or
// client-certificate auth, as the operator uses them. It is strict where kube-apiserver is
// (fake_validation.hpp): an object the real server refuses gets the same 422 Invalid here,
// Jobs and DaemonSets are defaulted, DELETE honours propagationPolicy and finalizers, list
// pages come from one snapshot, and a selector-filtered watch sees an object that a label
// change moves in or out as ADDED or DELETED. Faults on demand: forced 409s, compaction
// (answered as an ERROR event or as a 410 reply), watches that drop mid-event.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_validation.hpp"

namespace ckms::op::test {

struct TlsFiles {
  std::filesystem::path ca_cert;  // also the server's certificate (self-signed CA)
  std::filesystem::path server_key;
  std::filesystem::path client_cert;  // signed by ca_cert
  std::filesystem::path client_key;
};

// Makes a CA that is also the server certificate for 127.0.0.1, and a client certificate.
TlsFiles make_tls_files(const std::filesystem::path& dir);

struct FakeApiOptions {
  std::optional<TlsFiles> tls;
  bool require_client_cert = false;
  std::string token;  // when set, every request needs "Authorization: Bearer <token>"
  std::chrono::milliseconds bookmark_interval{200};
};

struct Request {
  std::string method;
  std::string path;
  std::string query;
};

class FakeApiServer {
 public:
  explicit FakeApiServer(FakeApiOptions options = {});
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  std::string url() const;
  int port() const { return port_; }

  // Direct access to the store, as another client of the API would do.
  // `collection` is a REST path such as "/api/v1/nodes".
  nlohmann::json create(const std::string& collection, nlohmann::json object);
  nlohmann::json update(const std::string& collection, const std::string& name,
                        const std::function<void(nlohmann::json&)>& change);
  void remove(const std::string& collection, const std::string& name);
  std::optional<nlohmann::json> get(const std::string& collection, const std::string& name) const;
  std::vector<nlohmann::json> list(const std::string& collection) const;

  // Faults.
  // The next `count` PUTs whose path contains `path_part` answer 409 Conflict.
  void conflict_next_updates(const std::string& path_part, int count);
  // Every write (POST, PUT, DELETE) whose path contains `path_part` is denied with 403, as
  // a validating admission webhook or a policy engine would.
  void deny_writes(const std::string& path_part, const std::string& message);
  // Forgets history: watches from any version before now get 410 Expired.
  // `as_reply`: a watch from before then is answered with HTTP 410 instead of a 200
  // stream holding an ERROR event (kube-apiserver does either, depending on where the
  // version is found too old).
  void compact(bool as_reply = false);
  // The next `count` watch streams send `events` events, then half of the next one, and
  // drop the connection.
  void drop_watches(int count, int events);
  // Ends every open watch (as an API server restart would).
  void end_watches();

  std::vector<Request> requests() const;
  // Requests that change something (POST, PUT, PATCH, DELETE), as "METHOD path".
  std::vector<std::string> writes() const;
  void clear_requests();
  int open_watches() const { return open_watches_; }

 private:
  struct Connection;
  struct Reply {
    int status = 200;
    std::string body;
  };
  struct Event {
    std::int64_t version;
    std::string collection;
    std::string type;
    nlohmann::json object;
    nlohmann::json previous;  // the object before this event (null when ADDED)
  };

  void serve();
  void handle(std::shared_ptr<Connection> connection);
  Reply route(const std::string& method, const std::string& path, const std::string& query, const std::string& body);
  void watch(Connection& connection, const std::string& collection, const std::string& query);
  nlohmann::json store_locked(const std::string& collection, nlohmann::json object, const std::string& type);
  static Reply status(int code, const std::string& reason, const std::string& message);
  static Reply invalid(const std::string& plural, const std::string& name, const std::vector<Cause>& causes);
  Reply list_locked(const std::string& collection, const std::string& plural,
                    const std::map<std::string, std::string>& params);
  Reply remove_locked(const std::string& collection, const std::string& name, const std::string& policy);
  void collect_dependents_locked(const std::string& uid);

  FakeApiOptions options_;
  int listener_ = -1;
  int port_ = 0;
  void* ssl_ctx_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::mutex threads_mutex_;
  std::vector<std::thread> threads_;
  std::vector<std::weak_ptr<Connection>> connections_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::map<std::string, nlohmann::json>> objects_;  // collection -> name -> object
  std::vector<Event> events_;
  std::int64_t version_ = 1000;
  std::int64_t compacted_ = 0;
  bool expire_as_reply_ = false;
  // List snapshots by the version they were taken at: later pages of a list come from it.
  std::map<std::int64_t, std::vector<nlohmann::json>> snapshots_;
  std::int64_t uid_counter_ = 0;
  std::vector<std::pair<std::string, int>> conflicts_;
  std::vector<std::pair<std::string, std::string>> denials_;
  int drop_count_ = 0;
  int drop_after_ = 0;
  std::int64_t watch_generation_ = 0;  // end_watches() bumps it
  std::atomic<int> open_watches_{0};
  std::vector<Request> requests_;
};

}  // namespace ckms::op::test
