#include "fake_apiserver.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include <fmt/format.h>

#include "fake_validation.hpp"
#include "testkit.hpp"

namespace ckms::op::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string url_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i] == '+' ? ' ' : text[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(const std::string& query) {
  std::map<std::string, std::string> out;
  std::stringstream in(query);
  std::string pair;
  while (std::getline(in, pair, '&')) {
    const auto eq = pair.find('=');
    if (eq == std::string::npos)
      out[url_decode(pair)] = "";
    else
      out[url_decode(pair.substr(0, eq))] = url_decode(pair.substr(eq + 1));
  }
  return out;
}

bool matches_labels(const json& object, const std::string& selector) {
  if (selector.empty()) return true;
  const json labels = object["metadata"].value("labels", json::object());
  std::stringstream in(selector);
  std::string term;
  while (std::getline(in, term, ',')) {
    const auto eq = term.find('=');
    const std::string key = term.substr(0, eq);
    const std::string value = term.substr(eq + 1);
    if (!labels.contains(key) || labels[key] != value) return false;
  }
  return true;
}

std::string kind_of(const std::string& plural) {
  static const std::map<std::string, std::string> kinds{{"nodes", "Node"},           {"jobs", "Job"},
                                                        {"daemonsets", "DaemonSet"}, {"pods", "Pod"},
                                                        {"events", "Event"},         {"kernelmodules", "KernelModule"}};
  const auto it = kinds.find(plural);
  return it == kinds.end() ? "Unknown" : it->second;
}

struct Target {
  std::string collection;
  std::string plural;
  std::string ns;
  std::string name;
  std::string subresource;
  bool valid = false;
};

Target parse_path(const std::string& path) {
  std::vector<std::string> segments;
  std::stringstream in(path);
  std::string segment;
  while (std::getline(in, segment, '/'))
    if (!segment.empty()) segments.push_back(segment);
  Target t;
  std::size_t i = 0;
  if (segments.size() >= 2 && segments[0] == "api")
    i = 2;
  else if (segments.size() >= 3 && segments[0] == "apis")
    i = 3;
  else
    return t;
  std::vector<std::string> prefix(segments.begin(), segments.begin() + static_cast<long>(i));
  if (segments.size() > i + 2 && segments[i] == "namespaces") {
    t.ns = segments[i + 1];
    prefix.push_back("namespaces");
    prefix.push_back(t.ns);
    i += 2;
  }
  if (i >= segments.size()) return t;
  t.plural = segments[i];
  prefix.push_back(t.plural);
  if (i + 1 < segments.size()) t.name = segments[i + 1];
  if (i + 2 < segments.size()) t.subresource = segments[i + 2];
  if (i + 3 < segments.size()) return t;
  for (const auto& p : prefix) t.collection += "/" + p;
  t.valid = true;
  return t;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 422: return "Unprocessable Entity";
    default: return "Error";
  }
}

}  // namespace

struct FakeApiServer::Connection {
  int fd = -1;
  SSL* ssl = nullptr;
  std::string buffer;

  ~Connection() {
    if (ssl) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
  // Bytes read, 0 at the end, -1 on error.
  long read_some(char* data, std::size_t size) {
    if (ssl) {
      const int n = SSL_read(ssl, data, static_cast<int>(size));
      return n > 0 ? n : (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
    }
    return ::recv(fd, data, size, 0);
  }
  bool write_all(std::string_view data) {
    while (!data.empty()) {
      const long n = ssl ? SSL_write(ssl, data.data(), static_cast<int>(data.size()))
                         : ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  bool fill() {
    char chunk[16384];
    const long n = read_some(chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  bool chunk(std::string_view data) { return write_all(fmt::format("{:x}\r\n{}\r\n", data.size(), data)); }
  void drop() { ::shutdown(fd, SHUT_RDWR); }
};

TlsFiles make_tls_files(const std::filesystem::path& dir) {
  TlsFiles files{dir / "ca.crt", dir / "server.key", dir / "client.crt", dir / "client.key"};
  const auto run = [](const std::vector<std::string>& argv) {
    const auto result = testkit::run(argv);
    if (result.exit_code != 0) throw std::runtime_error("openssl failed: " + result.err);
  };
  run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", files.server_key.string(), "-out",
       files.ca_cert.string(), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
       "-addext", "basicConstraints=critical,CA:TRUE"});
  const auto csr = dir / "client.csr";
  run({"openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", files.client_key.string(), "-out",
       csr.string(), "-subj", "/CN=ckms-operator/O=ckms"});
  run({"openssl", "x509", "-req", "-in", csr.string(), "-CA", files.ca_cert.string(), "-CAkey",
       files.server_key.string(), "-CAcreateserial", "-out", files.client_cert.string(), "-days", "1"});
  return files;
}

FakeApiServer::FakeApiServer(FakeApiOptions options) : options_(std::move(options)) {
  if (options_.tls) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_file(ctx, options_.tls->ca_cert.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, options_.tls->server_key.c_str(), SSL_FILETYPE_PEM) != 1)
      throw std::runtime_error("fake API server: cannot load the TLS certificate");
    if (options_.require_client_cert) {
      SSL_CTX_load_verify_locations(ctx, options_.tls->ca_cert.c_str(), nullptr);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    ssl_ctx_ = ctx;
  }
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 64) != 0)
    throw std::runtime_error("fake API server: cannot listen");
  socklen_t len = sizeof addr;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { serve(); });
}

FakeApiServer::~FakeApiServer() {
  stop_ = true;
  changed_.notify_all();
  ::shutdown(listener_, SHUT_RDWR);
  accept_thread_.join();
  {
    std::lock_guard lock(threads_mutex_);
    for (auto& weak : connections_)
      if (auto c = weak.lock()) c->drop();
  }
  for (auto& t : threads_) t.join();
  ::close(listener_);
  if (ssl_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

std::string FakeApiServer::url() const {
  return fmt::format("{}://127.0.0.1:{}", options_.tls ? "https" : "http", port_);
}

void FakeApiServer::serve() {
  while (!stop_) {
    pollfd pfd{listener_, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto connection = std::make_shared<Connection>();
    connection->fd = fd;
    std::lock_guard lock(threads_mutex_);
    connections_.push_back(connection);
    threads_.emplace_back([this, connection] { handle(connection); });
  }
}

void FakeApiServer::handle(std::shared_ptr<Connection> c) {
  if (ssl_ctx_) {
    c->ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_accept(c->ssl) != 1) return;  // e.g. a client without the certificate we require
  }
  while (!stop_) {
    std::size_t end;
    while ((end = c->buffer.find("\r\n\r\n")) == std::string::npos)
      if (!c->fill()) return;
    std::stringstream head(c->buffer.substr(0, end));
    c->buffer.erase(0, end + 4);
    std::string method, target, version, line;
    head >> method >> target >> version;
    std::getline(head, line);
    std::map<std::string, std::string> headers;
    while (std::getline(head, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    if (headers["expect"] == "100-continue" && !c->write_all("HTTP/1.1 100 Continue\r\n\r\n")) return;
    const std::size_t length = headers.contains("content-length") ? std::stoul(headers["content-length"]) : 0;
    while (c->buffer.size() < length)
      if (!c->fill()) return;
    const std::string body = c->buffer.substr(0, length);
    c->buffer.erase(0, length);

    const auto question = target.find('?');
    const std::string path = target.substr(0, question);
    const std::string query = question == std::string::npos ? "" : target.substr(question + 1);
    {
      std::lock_guard lock(mutex_);
      requests_.push_back({method, path, query});
    }
    Reply reply;
    if (!options_.token.empty() && headers["authorization"] != "Bearer " + options_.token) {
      reply = status(401, "Unauthorized", "Unauthorized");
    } else if (method == "GET" && parse_query(query).contains("watch")) {
      const Target t = parse_path(path);
      watch(*c, t.collection, query);
      continue;
    } else {
      reply = route(method, path, query, body);
    }
    const std::string response =
        fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}", reply.status,
                    reason_phrase(reply.status), reply.body.size(), reply.body);
    if (!c->write_all(response)) return;
  }
}

FakeApiServer::Reply FakeApiServer::status(int code, const std::string& reason, const std::string& message) {
  return {code, json{{"kind", "Status"},
                     {"apiVersion", "v1"},
                     {"metadata", json::object()},
                     {"status", "Failure"},
                     {"message", message},
                     {"reason", reason},
                     {"code", code}}
                    .dump()};
}

FakeApiServer::Reply FakeApiServer::invalid(const std::string& plural, const std::string& name,
                                            const std::vector<Cause>& causes) {
  // As kube-apiserver's NewInvalid (apimachinery/pkg/api/errors/errors.go): reason Invalid,
  // code 422, one cause per field error, the message listing them all.
  json details = {{"name", name}, {"kind", plural}, {"causes", json::array()}};
  std::string message;
  for (const auto& c : causes) {
    details["causes"].push_back({{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
    message += fmt::format("{}{}: {}", message.empty() ? "" : ", ", c.field, c.message);
  }
  Reply reply = status(422, "Invalid", fmt::format("{} \"{}\" is invalid: {}", kind_of(plural), name, message));
  json body = json::parse(reply.body);
  body["details"] = details;
  reply.body = body.dump();
  return reply;
}

json FakeApiServer::store_locked(const std::string& collection, json object, const std::string& type) {
  object["metadata"]["resourceVersion"] = std::to_string(++version_);
  const std::string name = object["metadata"]["name"];
  auto& objects = objects_[collection];
  const auto before = objects.find(name);
  json previous = before == objects.end() ? json() : before->second;
  if (type == "DELETED")
    objects.erase(name);
  else
    objects[name] = object;
  events_.push_back({version_, collection, type, object, std::move(previous)});
  changed_.notify_all();
  return object;
}

FakeApiServer::Reply FakeApiServer::list_locked(const std::string& collection, const std::string& plural,
                                                const std::map<std::string, std::string>& params) {
  // Every page of one list comes from the snapshot the first page was cut from, as etcd
  // serves a continue token at the revision of the first page.
  std::int64_t list_version = version_;
  std::size_t offset = 0;
  if (params.contains("continue") && !params.at("continue").empty()) {
    const std::string token = params.at("continue");
    const auto colon = token.find(':');
    list_version = std::stoll(token.substr(0, colon));
    if (list_version < compacted_ || !snapshots_.contains(list_version))
      return status(410, "Expired", "The provided continue parameter is too old");
    offset = std::stoul(token.substr(colon + 1));
  } else {
    std::vector<json> items;
    for (const auto& [name, object] : objects_[collection])
      if (matches_labels(object, params.contains("labelSelector") ? params.at("labelSelector") : "")) {
        json item = object;
        item.erase("kind");  // as a real list: items carry no kind/apiVersion
        item.erase("apiVersion");
        items.push_back(item);
      }
    snapshots_[list_version] = std::move(items);
  }
  const auto& items = snapshots_[list_version];
  const std::size_t limit = params.contains("limit") ? std::stoul(params.at("limit")) : items.size();
  json page = json::array();
  for (std::size_t i = offset; i < items.size() && i < offset + limit; ++i) page.push_back(items[i]);
  json meta = {{"resourceVersion", std::to_string(list_version)}};
  if (offset + limit < items.size()) meta["continue"] = fmt::format("{}:{}", list_version, offset + limit);
  return {200,
          json{{"kind", kind_of(plural) + "List"}, {"apiVersion", "v1"}, {"metadata", meta}, {"items", page}}.dump()};
}

void FakeApiServer::collect_dependents_locked(const std::string& uid) {
  // What the garbage collector does for a Background or Foreground deletion: objects whose
  // ownerReferences name the deleted owner go too (here at once).
  for (auto& [collection, objects] : objects_) {
    std::vector<json> owned;
    for (const auto& [name, object] : objects)
      for (const auto& ref : object["metadata"].value("ownerReferences", json::array()))
        if (ref.value("uid", "") == uid) owned.push_back(object);
    for (const auto& object : owned) {
      store_locked(collection, object, "DELETED");
      collect_dependents_locked(object["metadata"].value("uid", ""));
    }
  }
}

FakeApiServer::Reply FakeApiServer::remove_locked(const std::string& collection, const std::string& name,
                                                  const std::string& policy) {
  json object = objects_[collection].at(name);
  const std::string plural = collection.substr(collection.rfind('/') + 1);
  // batch/v1 Jobs orphan their pods unless told otherwise (the Job strategy's
  // DefaultGarbageCollectionPolicy); every other resource here deletes in the background.
  const std::string effective = policy.empty() ? (plural == "jobs" ? "Orphan" : "Background") : policy;
  if (effective != "Orphan" && effective != "Background" && effective != "Foreground")
    return status(400, "BadRequest", "propagationPolicy must be Orphan, Background or Foreground");
  json finalizers = object["metadata"].value("finalizers", json::array());
  if (!finalizers.empty()) {
    // A finalizer holds the object: it only gets a deletionTimestamp until whoever owns the
    // finalizer removes it (apiserver registry/generic/registry/store.go Delete).
    if (!object["metadata"].contains("deletionTimestamp")) {
      object["metadata"]["deletionTimestamp"] = "2026-11-23T10:00:00Z";
      object = store_locked(collection, object, "MODIFIED");
    }
    return {200, object.dump()};
  }
  store_locked(collection, object, "DELETED");
  if (effective != "Orphan") collect_dependents_locked(object["metadata"].value("uid", ""));
  return {200, status(200, "", "deleted").body};
}

FakeApiServer::Reply FakeApiServer::route(const std::string& method, const std::string& path, const std::string& query,
                                          const std::string& body) {
  const Target t = parse_path(path);
  if (!t.valid) return status(404, "NotFound", "no such path " + path);
  const auto params = parse_query(query);
  std::lock_guard lock(mutex_);
  auto& objects = objects_[t.collection];
  const std::string kind = kind_of(t.plural);

  if (t.name.empty() && method == "GET") return list_locked(t.collection, t.plural, params);
  for (const auto& [part, message] : denials_)
    if (method != "GET" && path.find(part) != std::string::npos)
      return status(403, "Forbidden", "admission webhook \"policy.example.com\" denied the request: " + message);
  if (t.name.empty() && method == "POST") {
    json object = json::parse(body, nullptr, false);
    if (!object.is_object() || !object.contains("metadata") || !object["metadata"].contains("name"))
      return status(400, "BadRequest", "object without metadata.name");
    const std::string name = object["metadata"]["name"];
    object["metadata"]["uid"] = fmt::format("00000000-0000-4000-8000-{:012d}", uid_counter_ + 1);
    apply_defaults(kind, object);
    if (const auto causes = validate_create(kind, object); !causes.empty()) return invalid(t.plural, name, causes);
    if (objects.contains(name))
      return status(409, "AlreadyExists", fmt::format("{} \"{}\" already exists", t.plural, name));
    ++uid_counter_;
    object["metadata"]["generation"] = 1;
    object["metadata"]["creationTimestamp"] = "2026-11-23T10:00:00Z";
    if (!t.ns.empty()) object["metadata"]["namespace"] = t.ns;
    return {201, store_locked(t.collection, object, "ADDED").dump()};
  }
  const auto it = objects.find(t.name);
  if (it == objects.end()) return status(404, "NotFound", fmt::format("{} \"{}\" not found", t.plural, t.name));
  if (method == "GET") return {200, it->second.dump()};
  if (method == "DELETE") {
    std::string policy = params.contains("propagationPolicy") ? params.at("propagationPolicy") : "";
    const json options = json::parse(body.empty() ? "{}" : body, nullptr, false);
    if (options.is_object() && options.contains("propagationPolicy")) policy = options.value("propagationPolicy", "");
    return remove_locked(t.collection, t.name, policy);
  }
  if (method == "PUT" || method == "PATCH") {
    json incoming = json::parse(body, nullptr, false);
    if (!incoming.is_object()) return status(400, "BadRequest", "body is not a JSON object");
    json next = it->second;
    if (method == "PUT") {
      for (auto& [part, count] : conflicts_) {
        if (count > 0 && path.find(part) != std::string::npos) {
          --count;
          return status(409, "Conflict", "Operation cannot be fulfilled: the object has been modified (injected)");
        }
      }
      const std::string sent = incoming["metadata"].value("resourceVersion", "");
      if (sent != it->second["metadata"]["resourceVersion"])
        return status(409, "Conflict",
                      fmt::format("Operation cannot be fulfilled on {} \"{}\": the object has been modified; please "
                                  "apply your changes to the latest version and try again",
                                  t.plural, t.name));
      if (t.subresource == "status") {
        next["status"] = incoming.value("status", json::object());
      } else {
        const json old_spec = next.value("spec", json());
        const json status_kept = next.value("status", json());
        json system = {{"uid", next["metadata"]["uid"]},
                       {"generation", next["metadata"]["generation"]},
                       {"creationTimestamp", next["metadata"]["creationTimestamp"]}};
        if (next["metadata"].contains("deletionTimestamp"))
          system["deletionTimestamp"] = next["metadata"]["deletionTimestamp"];
        next = incoming;
        next["metadata"].update(system);
        if (!status_kept.is_null()) next["status"] = status_kept;
        if (next.value("spec", json()) != old_spec)
          next["metadata"]["generation"] = system["generation"].get<int>() + 1;
      }
    } else {
      next.merge_patch(incoming);
    }
    if (t.subresource.empty())
      if (const auto causes = validate_update(kind, it->second, next); !causes.empty())
        return invalid(t.plural, t.name, causes);
    // The last finalizer removed from an object being deleted lets it go.
    if (next["metadata"].contains("deletionTimestamp") && next["metadata"].value("finalizers", json::array()).empty()) {
      store_locked(t.collection, next, "DELETED");
      collect_dependents_locked(next["metadata"].value("uid", ""));
      return {200, next.dump()};
    }
    return {200, store_locked(t.collection, next, "MODIFIED").dump()};
  }
  return status(405, "MethodNotAllowed", method + " is not served here");
}

void FakeApiServer::watch(Connection& c, const std::string& collection, const std::string& query) {
  const auto params = parse_query(query);
  const std::string selector = params.contains("labelSelector") ? params.at("labelSelector") : "";
  const bool bookmarks = params.contains("allowWatchBookmarks") && params.at("allowWatchBookmarks") == "true";
  const auto timeout =
      std::chrono::seconds(params.contains("timeoutSeconds") ? std::stoi(params.at("timeoutSeconds")) : 1800);
  std::int64_t seen = params.contains("resourceVersion") && !params.at("resourceVersion").empty()
                          ? std::stoll(params.at("resourceVersion"))
                          : 0;
  {
    std::unique_lock lock(mutex_);
    const std::int64_t from = seen == 0 ? version_ : seen;
    if (from < compacted_ && expire_as_reply_) {
      const Reply gone = status(410, "Expired", fmt::format("too old resource version: {} ({})", from, compacted_));
      lock.unlock();
      c.write_all(fmt::format("HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                              gone.body.size(), gone.body));
      return;
    }
  }
  if (!c.write_all("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")) return;
  ++open_watches_;
  struct Closer {
    std::atomic<int>& open;
    ~Closer() { --open; }
  } closer{open_watches_};

  std::unique_lock lock(mutex_);
  if (seen == 0) seen = version_;
  if (seen < compacted_) {
    const json expired = {
        {"type", "ERROR"},
        {"object",
         json::parse(status(410, "Expired", fmt::format("too old resource version: {} ({})", seen, compacted_)).body)}};
    lock.unlock();
    c.chunk(expired.dump() + "\n");
    c.write_all("0\r\n\r\n");
    return;
  }
  int drop_after = -1;
  if (drop_count_ > 0) {
    --drop_count_;
    drop_after = drop_after_;
  }
  const std::int64_t generation = watch_generation_;
  const auto deadline = Clock::now() + timeout;
  auto next_bookmark = Clock::now() + options_.bookmark_interval;
  int sent = 0;
  while (!stop_ && generation == watch_generation_ && Clock::now() < deadline) {
    std::vector<std::string> lines;
    // Events are in version order: start after the last one seen, not at the beginning (a
    // scan of the whole history on every change is quadratic at thousands of objects).
    const auto unseen = std::upper_bound(events_.begin(), events_.end(), seen,
                                         [](std::int64_t version, const Event& e) { return version < e.version; });
    for (auto e = unseen; e != events_.end(); ++e) {
      if (e->collection != collection) continue;
      // A label change moves an object into or out of a filtered watch: its watchers see it
      // added or deleted (apiserver storage/cacher/cache_watcher.go convertToWatchEvent).
      const bool now_in = matches_labels(e->object, selector);
      const bool was_in = !e->previous.is_null() && matches_labels(e->previous, selector);
      std::string type = e->type;
      if (type == "MODIFIED" && now_in && !was_in) type = "ADDED";
      if (type == "MODIFIED" && !now_in && was_in) type = "DELETED";
      if (now_in || (type == "DELETED" && was_in))
        lines.push_back(json{{"type", type}, {"object", e->object}}.dump() + "\n");
      seen = e->version;
    }
    if (bookmarks && Clock::now() >= next_bookmark) {
      lines.push_back(json{{"type", "BOOKMARK"},
                           {"object",
                            {{"kind", kind_of(collection.substr(collection.rfind('/') + 1))},
                             {"apiVersion", "v1"},
                             {"metadata", {{"resourceVersion", std::to_string(version_)}}}}}}
                          .dump() +
                      "\n");
      seen = std::max(seen, version_);
      next_bookmark = Clock::now() + options_.bookmark_interval;
    }
    if (lines.empty()) {
      changed_.wait_until(lock, std::min(next_bookmark, deadline));
      continue;
    }
    lock.unlock();
    for (const auto& line : lines) {
      if (drop_after >= 0 && sent == drop_after) {
        c.chunk(line.substr(0, line.size() / 2));  // half an event, then the connection is gone
        c.drop();
        return;
      }
      // Two chunks per event: the client must join lines across chunk boundaries.
      const std::size_t half = line.size() / 3;
      if (!c.chunk(line.substr(0, half)) || !c.chunk(line.substr(half))) return;
      ++sent;
    }
    lock.lock();
  }
  lock.unlock();
  c.write_all("0\r\n\r\n");
}

json FakeApiServer::create(const std::string& collection, json object) {
  const Target t = parse_path(collection);
  std::lock_guard lock(mutex_);
  object["metadata"]["uid"] = fmt::format("00000000-0000-4000-8000-{:012d}", ++uid_counter_);
  object["metadata"]["generation"] = 1;
  if (!t.ns.empty()) object["metadata"]["namespace"] = t.ns;
  return store_locked(collection, object, "ADDED");
}

json FakeApiServer::update(const std::string& collection, const std::string& name,
                           const std::function<void(json&)>& change) {
  std::lock_guard lock(mutex_);
  json object = objects_.at(collection).at(name);
  change(object);
  return store_locked(collection, object, "MODIFIED");
}

void FakeApiServer::remove(const std::string& collection, const std::string& name) {
  std::lock_guard lock(mutex_);
  store_locked(collection, objects_.at(collection).at(name), "DELETED");
}

std::optional<json> FakeApiServer::get(const std::string& collection, const std::string& name) const {
  std::lock_guard lock(mutex_);
  const auto c = objects_.find(collection);
  if (c == objects_.end() || !c->second.contains(name)) return std::nullopt;
  return c->second.at(name);
}

std::vector<json> FakeApiServer::list(const std::string& collection) const {
  std::lock_guard lock(mutex_);
  std::vector<json> out;
  const auto c = objects_.find(collection);
  if (c != objects_.end())
    for (const auto& [name, object] : c->second) out.push_back(object);
  return out;
}

void FakeApiServer::deny_writes(const std::string& path_part, const std::string& message) {
  std::lock_guard lock(mutex_);
  denials_.emplace_back(path_part, message);
}

void FakeApiServer::conflict_next_updates(const std::string& path_part, int count) {
  std::lock_guard lock(mutex_);
  conflicts_.emplace_back(path_part, count);
}

void FakeApiServer::compact(bool as_reply) {
  std::lock_guard lock(mutex_);
  compacted_ = version_ + 1;
  expire_as_reply_ = as_reply;
  ++watch_generation_;  // open watches end; their next request meets the compaction
  changed_.notify_all();
}

void FakeApiServer::drop_watches(int count, int events) {
  std::lock_guard lock(mutex_);
  drop_count_ = count;
  drop_after_ = events;
}

void FakeApiServer::end_watches() {
  std::lock_guard lock(mutex_);
  ++watch_generation_;
  changed_.notify_all();
}

std::vector<Request> FakeApiServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::vector<std::string> FakeApiServer::writes() const {
  std::vector<std::string> out;
  for (const auto& r : requests())
    if (r.method != "GET") out.push_back(r.method + " " + r.path);
  return out;
}

void FakeApiServer::clear_requests() {
  std::lock_guard lock(mutex_);
  requests_.clear();
}

}  // namespace ckms::op::test
