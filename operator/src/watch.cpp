#include "ckms/operator/watch.hpp"

#include <thread>

#include "ckms/base/error.hpp"
#include "ckms/oci/http.hpp"

namespace ckms::op {

void LineBuffer::feed(std::string_view bytes, const std::function<void(std::string_view)>& on_line) {
  while (!bytes.empty()) {
    const auto newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      if (partial_.size() + bytes.size() > max_line_)
        fail(ErrorKind::network, "watch stream: a line longer than {} bytes", max_line_);
      partial_.append(bytes);
      return;
    }
    if (partial_.size() + newline > max_line_)
      fail(ErrorKind::network, "watch stream: a line longer than {} bytes", max_line_);
    std::string_view line = bytes.substr(0, newline);
    if (!partial_.empty()) {
      partial_.append(line);
      std::string whole = std::move(partial_);
      partial_.clear();
      if (!whole.empty() && whole.back() == '\r') whole.pop_back();
      if (!whole.empty()) on_line(whole);
    } else {
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) on_line(line);
    }
    bytes.remove_prefix(newline + 1);
  }
}

WatchEvent parse_watch_event(std::string_view line) {
  const auto doc = nlohmann::json::parse(line, nullptr, false);
  const auto excerpt = [&] { return std::string(line.substr(0, 200)); };
  if (!doc.is_object() || !doc.contains("type") || !doc["type"].is_string() || !doc.contains("object") ||
      !doc["object"].is_object())
    fail(ErrorKind::network, "watch stream: not a watch event: {}", excerpt());
  const std::string type = doc["type"];
  WatchEvent event{WatchEventType::error, doc["object"]};
  if (type == "ADDED")
    event.type = WatchEventType::added;
  else if (type == "MODIFIED")
    event.type = WatchEventType::modified;
  else if (type == "DELETED")
    event.type = WatchEventType::deleted;
  else if (type == "BOOKMARK")
    event.type = WatchEventType::bookmark;
  else if (type == "ERROR")
    event.type = WatchEventType::error;
  else
    fail(ErrorKind::network, "watch stream: unknown event type {}", type);
  if (event.type != WatchEventType::error) {
    const auto& meta = event.object.value("metadata", nlohmann::json::object());
    if (!meta.is_object() || !meta.contains("resourceVersion") || !meta["resourceVersion"].is_string())
      fail(ErrorKind::network, "watch stream: {} event without metadata.resourceVersion: {}", type, excerpt());
  }
  return event;
}

std::string object_key(const nlohmann::json& object) {
  const auto& meta = object.at("metadata");
  const std::string name = meta.value("name", "");
  const std::string ns = meta.value("namespace", "");
  return ns.empty() ? name : ns + "/" + name;
}

bool is_expired(const std::exception& error) {
  const auto* api = dynamic_cast<const ApiError*>(&error);
  return api && api->status() == 410;
}

Informer::Informer(const KubeConfig& config, Resource resource, std::string ns, std::string label_selector,
                   OnChange on_change, WatchOptions options)
    : client_(config),
      resource_(resource),
      namespace_(std::move(ns)),
      selector_(std::move(label_selector)),
      on_change_(std::move(on_change)),
      options_(options) {}

std::string Informer::list() {
  std::map<std::string, nlohmann::json> fresh;
  std::string version;
  std::string continue_token;
  const std::string base = resource_.collection(namespace_);
  for (;;) {
    std::string path = fmt::format("{}?limit={}", base, options_.page_size);
    if (!selector_.empty()) path += "&labelSelector=" + selector_;
    if (!continue_token.empty()) path += "&continue=" + oci::url_escape(continue_token);
    nlohmann::json page;
    try {
      page = client_.get(path);
    } catch (const ApiError& e) {
      // The continue token outlived the snapshot it pages through: start over.
      if (e.status() == 410 && !continue_token.empty()) {
        fresh.clear();
        continue_token.clear();
        continue;
      }
      throw;
    }
    if (!page.contains("items") || !page["items"].is_array())
      fail(ErrorKind::network, "API server: list {}: reply has no items", path);
    for (auto& item : page["items"]) {
      // Lists leave kind/apiVersion off their items; put them back so objects look alike
      // whether they came from a list or a watch.
      item["kind"] = resource_.kind;
      item["apiVersion"] = resource_.api_version();
      std::string key = object_key(item);  // before the move: operator= takes its argument first
      fresh[key] = transform_ ? transform_(item) : std::move(item);
    }
    const auto& meta = page.value("metadata", nlohmann::json::object());
    version = meta.value("resourceVersion", "");
    continue_token = meta.value("continue", "");
    if (continue_token.empty()) break;
  }

  std::vector<std::pair<nlohmann::json, bool>> changes;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, object] : objects_)
      if (!fresh.contains(key)) changes.emplace_back(object, true);
    for (const auto& [key, object] : fresh) {
      const auto old = objects_.find(key);
      if (old == objects_.end() || old->second != object) changes.emplace_back(object, false);
    }
    objects_ = std::move(fresh);
    resource_version_ = version;
    ++stats_.lists;
  }
  synced_ = true;
  for (const auto& [object, deleted] : changes) on_change_(object, deleted);
  return version;
}

void Informer::apply(const WatchEvent& event) {
  const std::string version = event.object["metadata"]["resourceVersion"];
  if (event.type == WatchEventType::bookmark) {
    std::lock_guard lock(mutex_);
    resource_version_ = version;
    ++stats_.bookmarks;
    return;
  }
  const std::string key = object_key(event.object);
  {
    std::lock_guard lock(mutex_);
    if (event.type == WatchEventType::deleted) {
      objects_.erase(key);
    } else {
      objects_[key] = event.object;
    }
    resource_version_ = version;
    ++stats_.events;
  }
  on_change_(event.object, event.type == WatchEventType::deleted);
}

void Informer::watch_once(const std::atomic<bool>& stop) {
  std::string path = fmt::format("{}?watch=1&allowWatchBookmarks=true&timeoutSeconds={}&resourceVersion={}",
                                 resource_.collection(namespace_), options_.watch_timeout.count(), resource_version());
  if (!selector_.empty()) path += "&labelSelector=" + selector_;
  {
    std::lock_guard lock(mutex_);
    ++stats_.watches;
  }
  LineBuffer lines(options_.max_line);
  const auto on_line = [&](std::string_view line) {
    WatchEvent event = parse_watch_event(line);
    if (event.type == WatchEventType::error) {
      const long code = event.object.value("code", 0L);
      throw ApiError(code, event.object.value("reason", ""),
                     fmt::format("API server: watch {}: {} {}", path, code, event.object.value("message", "")));
    }
    // Watch events carry kind/apiVersion already; set them anyway for uniformity.
    event.object["kind"] = resource_.kind;
    event.object["apiVersion"] = resource_.api_version();
    if (transform_ && event.type != WatchEventType::bookmark) event.object = transform_(event.object);
    apply(event);
  };
  client_.stream(
      path, [&](std::string_view bytes) { lines.feed(bytes, on_line); }, stop,
      options_.watch_timeout + std::chrono::seconds(30));
  if (lines.pending() > 0 && !stop)
    fail(ErrorKind::network, "API server: watch {}: connection ended inside an event", path);
}

void Informer::sleep_backoff(std::chrono::milliseconds delay, const std::atomic<bool>& stop) const {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (!stop && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

void Informer::run(const std::atomic<bool>& stop) {
  auto backoff = options_.initial_backoff;
  bool need_list = !synced_;  // a caller that listed already resumes from that list
  while (!stop) {
    try {
      if (need_list) {
        list();
        need_list = false;
      }
      watch_once(stop);
      backoff = options_.initial_backoff;  // a watch that ended cleanly: the server is fine
    } catch (const std::exception& e) {
      if (stop) break;
      if (on_error_) on_error_(e.what(), is_expired(e));
      if (is_expired(e)) {
        std::lock_guard lock(mutex_);
        ++stats_.expired;
        need_list = true;
        continue;  // relisting at once is what the server asked for
      }
      {
        std::lock_guard lock(mutex_);
        ++stats_.reconnects;
      }
      sleep_backoff(backoff, stop);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
}

std::vector<nlohmann::json> Informer::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<nlohmann::json> out;
  out.reserve(objects_.size());
  for (const auto& [key, object] : objects_) out.push_back(object);
  return out;
}

std::vector<nlohmann::json> Informer::select(const std::function<bool(const nlohmann::json&)>& wanted) const {
  std::lock_guard lock(mutex_);
  std::vector<nlohmann::json> out;
  for (const auto& [key, object] : objects_)
    if (wanted(object)) out.push_back(object);
  return out;
}

std::optional<nlohmann::json> Informer::find(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto it = objects_.find(key);
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

std::string Informer::resource_version() const {
  std::lock_guard lock(mutex_);
  return resource_version_;
}

InformerStats Informer::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace ckms::op
