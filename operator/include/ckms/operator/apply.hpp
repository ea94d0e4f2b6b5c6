#pragma once
// Makes the cluster look like a reconcile result: creates what is missing, replaces a
// loader whose pinned nodes changed, deletes what is obsolete or was made from another
// spec (it comes back on the next pass), and writes status only when it differs. Updates
// that meet a 409 Conflict read the object again and retry. A write the API server refuses
// (validation, admission, RBAC) does not stop the others: it makes the status Degraded
// with the server's words and an Event, and then apply() throws so the module is retried.

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/operator/events.hpp"
#include "ckms/operator/kube_client.hpp"
#include "ckms/operator/reconcile.hpp"
#include "ckms/operator/resources.hpp"

namespace ckms::op {

struct ApplyStats {
  int created = 0;
  int updated = 0;
  int deleted = 0;
  int status_writes = 0;
  int conflicts = 0;  // 409s met and retried
  int events = 0;
  std::vector<std::string> refused;  // what the API server said to writes it refused
  bool changed() const { return created + updated + deleted + status_writes > 0; }
};

// PUT `mutate(current)` to `path`; on 409 GET the object again and retry, up to
// `attempts` times. Returns the stored object.
nlohmann::json replace_with_retry(KubeClient& client, const std::string& path, nlohmann::json current,
                                  const std::function<void(nlohmann::json&)>& mutate, int attempts,
                                  int* conflicts = nullptr);

class Applier {
 public:
  Applier(KubeClient& client, EventRecorder& events) : client_(client), events_(events) {}
  // `module_object` is the KernelModule as last read (its status is replaced).
  ApplyStats apply(const Observed& observed, const nlohmann::json& module_object, const Desired& desired);
  // Deletes objects whose owner is gone (reconcile.hpp orphans()).
  int remove(const std::vector<nlohmann::json>& objects);

 private:
  void sync_one(const Resource& resource, const nlohmann::json& desired, const nlohmann::json* current,
                const Observed& context, ApplyStats& stats);
  void sync(const Resource& resource, const std::vector<nlohmann::json>& observed,
            const std::vector<nlohmann::json>& desired, const Observed& context, ApplyStats& stats);
  KubeClient& client_;
  EventRecorder& events_;
};

}  // namespace ckms::op
