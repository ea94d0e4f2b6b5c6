#pragma once
// Informers: a local copy of a set of API objects kept current by list + watch. A watch
// reply is a stream of JSON documents, one per line, cut into HTTP chunks anywhere; it
// resumes from the last resourceVersion seen (bookmarks move it on without an object),
// relists when the server says that version is gone (410 Expired), and reconnects with
// backoff when the connection drops.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/operator/kube_client.hpp"
#include "ckms/operator/resources.hpp"

namespace ckms::op {

// Splits a byte stream into lines however it is cut. A line longer than `max_line` throws
// (a server that never sends a newline must not grow memory without bound).
class LineBuffer {
 public:
  explicit LineBuffer(std::size_t max_line) : max_line_(max_line) {}
  void feed(std::string_view bytes, const std::function<void(std::string_view)>& on_line);
  std::size_t pending() const { return partial_.size(); }

 private:
  std::size_t max_line_;
  std::string partial_;
};

enum class WatchEventType { added, modified, deleted, bookmark, error };

struct WatchEvent {
  WatchEventType type;
  nlohmann::json object;
};

// One line of a watch stream; throws a network error naming the line when it is not a
// watch event (a torn or foreign reply is a transport fault, handled by reconnecting).
WatchEvent parse_watch_event(std::string_view line);

// "namespace/name", or "name" for cluster-scoped objects.
std::string object_key(const nlohmann::json& object);

struct WatchOptions {
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  int page_size = 500;
  // timeoutSeconds asked of the server; our own limit on one watch is this plus a margin.
  std::chrono::seconds watch_timeout{290};
  std::size_t max_line = 16 << 20;
};

struct InformerStats {
  int lists = 0;    // complete lists (the first one and every relist)
  int watches = 0;  // watch requests started
  int events = 0;   // ADDED/MODIFIED/DELETED applied
  int bookmarks = 0;
  int expired = 0;     // 410s that forced a relist
  int reconnects = 0;  // watches that ended in an error and were retried after a backoff
};

class Informer {
 public:
  // Told of every object that was added, changed or removed, after the cache holds the
  // change; `deleted` is true for removals. Called on the informer's thread.
  using OnChange = std::function<void(const nlohmann::json& object, bool deleted)>;

  Informer(const KubeConfig& config, Resource resource, std::string ns, std::string label_selector, OnChange on_change,
           WatchOptions options = {});

  // Cuts each object on receipt, before it is cached, compared or reported, as client-go's
  // SharedInformer.SetTransform does (cache_trim.hpp). Set before list() or run().
  using Transform = std::function<nlohmann::json(const nlohmann::json&)>;
  void set_transform(Transform transform) { transform_ = std::move(transform); }

  // Told why a list or watch failed before run() backs off or relists (for logs).
  void on_error(std::function<void(const std::string& message, bool expired)> handler) {
    on_error_ = std::move(handler);
  }

  // Lists (unless list() was called already), then watches until `stop`; never returns
  // early for server or network faults.
  void run(const std::atomic<bool>& stop);

  // One complete, paged list that replaces the cache (changes are reported). Returns its
  // resourceVersion.
  std::string list();
  // One watch request from the current resourceVersion until the server ends it or `stop`.
  // Throws ApiError 410 when the version is too old, network errors when it drops.
  void watch_once(const std::atomic<bool>& stop);

  std::vector<nlohmann::json> snapshot() const;
  // Copies of only the cached objects `wanted` accepts (no copy of the rest).
  std::vector<nlohmann::json> select(const std::function<bool(const nlohmann::json&)>& wanted) const;
  std::optional<nlohmann::json> find(const std::string& key) const;
  std::string resource_version() const;
  bool synced() const { return synced_.load(); }
  InformerStats stats() const;
  const Resource& resource() const { return resource_; }

 private:
  void apply(const WatchEvent& event);
  void sleep_backoff(std::chrono::milliseconds delay, const std::atomic<bool>& stop) const;

  KubeClient client_;
  Resource resource_;
  std::string namespace_;
  std::string selector_;
  OnChange on_change_;
  Transform transform_;
  std::function<void(const std::string&, bool)> on_error_;
  WatchOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, nlohmann::json> objects_;
  std::string resource_version_;
  InformerStats stats_;
  std::atomic<bool> synced_{false};
};

// True when the error means "your resourceVersion is too old: list again".
bool is_expired(const std::exception& error);

}  // namespace ckms::op
