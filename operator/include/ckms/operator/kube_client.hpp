#pragma once
// The Kubernetes API over HTTPS with libcurl: one easy handle per client (connections stay
// alive between requests), TLS against the cluster CA with a bearer token or a client
// certificate. Not thread-safe: each thread that talks to the API server owns a client.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/operator/kube_config.hpp"

namespace ckms::op {

struct ApiReply {
  long status = 0;
  std::string body;
};

// The server answered with a status outside 2xx. `reason` is the Status object's reason
// ("Conflict", "Expired", "NotFound", "AlreadyExists") when the body had one.
class ApiError : public Error {
 public:
  ApiError(long status, std::string reason, const std::string& message);
  long status() const noexcept { return status_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  long status_;
  std::string reason_;
};

// Throws ApiError for a reply outside 2xx, naming the method and path.
void check_reply(const ApiReply& reply, std::string_view method, std::string_view path);

struct ClientOptions {
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds request_timeout{60};
  // Largest reply body accepted for one request (lists are paged well below this).
  std::size_t body_limit = 64 << 20;
  std::string user_agent = "ckms-operator";
};

class KubeClient {
 public:
  explicit KubeClient(KubeConfig config, ClientOptions options = {});
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // One exchange, no retries. A transport failure (refused, reset, TLS, timeout) throws a
  // network error; a reply of any status is returned.
  ApiReply send(std::string_view method, const std::string& path, const std::string* body = nullptr,
                std::string_view content_type = "application/json");

  // The usual verbs; every reply outside 2xx throws ApiError.
  nlohmann::json get(const std::string& path);
  nlohmann::json create(const std::string& collection, const nlohmann::json& object);
  // PUT with the object's metadata.resourceVersion: 409 when someone changed it meanwhile.
  nlohmann::json replace(const std::string& path, const nlohmann::json& object);
  // DELETE with propagationPolicy=Background, so a Job's or DaemonSet's pods go too.
  // Returns false when the object was already gone.
  bool remove(const std::string& path);

  // A long GET whose body is handed to `on_data` as it arrives (a watch). Returns when the
  // server ends the reply, or as soon as `stop` turns true (checked about once a second).
  // A reply outside 2xx is not streamed: it throws ApiError. A dropped connection throws a
  // network error. `max_time` bounds the whole exchange, in case a peer vanishes silently.
  void stream(const std::string& path, const std::function<void(std::string_view)>& on_data,
              const std::atomic<bool>& stop, std::chrono::seconds max_time);

  const KubeConfig& config() const { return config_; }

 private:
  struct Handle;
  KubeConfig config_;
  ClientOptions options_;
  std::unique_ptr<Handle> handle_;
};

}  // namespace ckms::op
