#pragma once
// The controller loop: informers for KernelModules, Nodes, and the Jobs, DaemonSets and
// Pods the operator made; a queue of modules to reconcile (a node change touches every
// module, a workload change its owner); a resync that asks the registry again, since
// artifacts can appear without any API event (a CI pipeline publishing).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "ckms/operator/apply.hpp"
#include "ckms/operator/artifacts.hpp"
#include "ckms/operator/log.hpp"
#include "ckms/operator/watch.hpp"
#include "ckms/operator/workloads.hpp"

namespace ckms::op {

struct ControllerOptions {
  std::string namespace_name = "default";
  OperatorSettings settings;
  std::chrono::seconds resync{300};
  WatchOptions watch;
  std::chrono::milliseconds retry_backoff{1000};  // first retry of a failed reconcile, doubling
  std::chrono::milliseconds max_retry_backoff{120'000};
};

struct ControllerStats {
  int reconciles = 0;
  int failures = 0;
  ApplyStats applied;  // summed over every reconcile
  int wakeups = 0;     // turns of the watch loop (idle, it turns about 5 times a second)
};

class Controller {
 public:
  Controller(const KubeConfig& config, ControllerOptions options, ArtifactChecker& checker, Logger& log);
  ~Controller();

  // Lists everything once, reconciles every KernelModule and removes orphans. Returns the
  // number of modules whose reconcile failed.
  int run_once();
  // Watches and reconciles until `stop`.
  void run(const std::atomic<bool>& stop);

  ControllerStats stats() const;

 private:
  bool reconcile_module(const std::string& name);
  void reconcile_invalid(const nlohmann::json& object, const std::string& why);
  void collect_orphans();
  void enqueue(const std::string& name);
  void enqueue_all();
  std::vector<nlohmann::json> owned_by(const Informer& informer, const std::string& name) const;

  ControllerOptions options_;
  ArtifactChecker& checker_;
  Logger& log_;
  KubeClient client_;  // the worker's own connection
  EventRecorder events_;
  Applier applier_;
  std::unique_ptr<Informer> modules_, nodes_, jobs_, daemon_sets_, pods_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::set<std::string> dirty_;
  bool orphans_dirty_ = false;
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, std::chrono::milliseconds>> retries_;
  ControllerStats stats_;
  const std::atomic<bool>* stop_ = nullptr;  // run()'s, so registry checks end with it
};

}  // namespace ckms::op
