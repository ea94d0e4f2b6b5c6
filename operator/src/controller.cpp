#include "ckms/operator/controller.hpp"

#include <thread>
#include <vector>

#include <fmt/format.h>

#include "ckms/base/time.hpp"
#include "ckms/operator/cache_trim.hpp"
#include "ckms/operator/preflight.hpp"
#include "ckms/operator/resources.hpp"

namespace ckms::op {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string owner_label(const json& object) {
  return object.value("/metadata/labels"_json_pointer, json::object()).value(std::string(label::kernel_module), "");
}

}  // namespace

Controller::Controller(const KubeConfig& config, ControllerOptions options, ArtifactChecker& checker, Logger& log)
    : options_(std::move(options)),
      checker_(checker),
      log_(log),
      client_(config),
      events_(client_),
      applier_(client_, events_) {
  const std::string& ns = options_.namespace_name;
  const std::string owned = owned_selector();
  modules_ = std::make_unique<Informer>(
      config, resource::kernel_modules, ns, "",
      [this](const json& object, bool deleted) {
        enqueue(object["metadata"].value("name", ""));
        if (deleted) {
          std::lock_guard lock(mutex_);
          orphans_dirty_ = true;
        }
      },
      options_.watch);
  nodes_ = std::make_unique<Informer>(
      config, resource::nodes, "", "", [this](const json&, bool) { enqueue_all(); }, options_.watch);
  const auto by_owner = [this](const json& object, bool) { enqueue(owner_label(object)); };
  jobs_ = std::make_unique<Informer>(config, resource::jobs, ns, owned, by_owner, options_.watch);
  daemon_sets_ = std::make_unique<Informer>(config, resource::daemon_sets, ns, owned, by_owner, options_.watch);
  pods_ = std::make_unique<Informer>(config, resource::pods, ns, owned, by_owner, options_.watch);
  // Only what reconcile reads is cached: at thousands of pods, whole objects are most of
  // the operator's memory.
  nodes_->set_transform(trim_node);
  pods_->set_transform(trim_pod);
  jobs_->set_transform(trim_job);
  daemon_sets_->set_transform(trim_daemon_set);
  for (Informer* informer : {modules_.get(), nodes_.get(), jobs_.get(), daemon_sets_.get(), pods_.get()}) {
    const std::string kind(informer->resource().kind);
    informer->on_error([this, kind](const std::string& message, bool expired) {
      if (expired)
        log_.info("watch expired, listing again", {{"kind", kind}});
      else
        log_.warn("list/watch failed, retrying", {{"kind", kind}, {"error", message}});
    });
  }
}

Controller::~Controller() = default;

void Controller::enqueue(const std::string& name) {
  if (name.empty()) return;
  {
    std::lock_guard lock(mutex_);
    dirty_.insert(name);
  }
  wake_.notify_one();
}

void Controller::enqueue_all() {
  {
    std::lock_guard lock(mutex_);
    for (const auto& object : modules_->snapshot()) dirty_.insert(object["metadata"].value("name", ""));
  }
  wake_.notify_one();
}

std::vector<json> Controller::owned_by(const Informer& informer, const std::string& name) const {
  return informer.select([&](const json& object) { return owner_label(object) == name; });
}

void Controller::reconcile_invalid(const json& object, const std::string& why) {
  KernelModule module;
  module.name = object["metadata"].value("name", "");
  module.namespace_name = object["metadata"].value("namespace", "");
  module.uid = object["metadata"].value("uid", "");
  module.resource_version = object["metadata"].value("resourceVersion", "");
  module.generation = object["metadata"].value("generation", std::int64_t{0});
  if (object.contains("status") && object["status"].is_object()) module.status = status_from_json(object["status"]);
  // The spec cannot be read, so nothing is built or loaded for it; what exists is kept
  // until the spec is fixed or the resource is deleted.
  Observed observed{module};
  observed.now = rfc3339_now();
  Desired desired = reconcile(observed, options_.settings);
  mark_degraded(desired.status, module, ConditionReason::invalid_spec, why, observed.now);
  if (!(desired.status == module.status)) {
    replace_with_retry(
        client_, resource::kernel_modules.object(module.namespace_name, module.name, "status"), object,
        [&](json& o) { o["status"] = to_json(desired.status); }, 5);
  }
  events_.record(module, "Warning", "InvalidSpec", why, observed.now);
}

bool Controller::reconcile_module(const std::string& name) {
  const auto object = modules_->find(options_.namespace_name + "/" + name);
  if (!object) return true;  // deleted: its workloads are orphans now
  KernelModule module;
  try {
    module = parse_kernel_module(*object);
  } catch (const Error& e) {
    log_.warn("invalid KernelModule", {{"module", name}, {"error", e.what()}});
    reconcile_invalid(*object, e.what());
    return true;
  }
  Observed observed;
  observed.module = module;
  observed.nodes = nodes_->snapshot();
  observed.jobs = owned_by(*jobs_, name);
  observed.daemon_sets = owned_by(*daemon_sets_, name);
  observed.pods = owned_by(*pods_, name);
  std::vector<std::string> releases;
  const auto kernels = nodes_by_kernel(module.spec, observed.nodes);
  for (const auto& [release, nodes] : kernels) releases.push_back(release);
  for (auto& release : preflight_releases(module.spec, kernels)) releases.push_back(std::move(release));
  static const std::atomic<bool> never{false};
  for (const auto& [release, check] :
       checker_.check(options_.namespace_name + "/" + name, module.spec, releases, stop_ ? *stop_ : never)) {
    observed.artifacts[release] = check.availability;
    if (check.availability != Availability::unknown) continue;
    observed.unanswered[release] = std::string(to_string(check.why));
    log_.warn("registry did not answer",
              {{"module", name}, {"kernel", release}, {"why", to_string(check.why)}, {"error", check.message}});
  }
  observed.now = rfc3339_now();
  const Desired desired = reconcile(observed, options_.settings);
  const ApplyStats applied = applier_.apply(observed, *object, desired);
  {
    std::lock_guard lock(mutex_);
    ++stats_.reconciles;
    stats_.applied.created += applied.created;
    stats_.applied.updated += applied.updated;
    stats_.applied.deleted += applied.deleted;
    stats_.applied.status_writes += applied.status_writes;
    stats_.applied.conflicts += applied.conflicts;
    stats_.applied.events += applied.events;
  }
  if (applied.changed()) {
    log_.info("reconciled", {{"module", name},
                             {"created", applied.created},
                             {"updated", applied.updated},
                             {"deleted", applied.deleted},
                             {"statusWritten", applied.status_writes > 0},
                             {"nodes", desired.status.nodes},
                             {"loaded", desired.status.loaded}});
  }
  return true;
}

void Controller::collect_orphans() {
  std::map<std::string, std::string> uids;
  std::set<std::string> keys;
  for (const auto& m : modules_->snapshot()) {
    uids[m["metadata"].value("name", "")] = m["metadata"].value("uid", "");
    keys.insert(options_.namespace_name + "/" + m["metadata"].value("name", ""));
  }
  checker_.retain(keys);  // a deleted module's registry client goes with it
  std::vector<json> owned = jobs_->snapshot();
  for (auto& ds : daemon_sets_->snapshot()) owned.push_back(std::move(ds));
  const auto gone = orphans(owned, uids);
  if (gone.empty()) return;
  const int removed = applier_.remove(gone);
  std::lock_guard lock(mutex_);
  stats_.applied.deleted += removed;
}

int Controller::run_once() {
  for (Informer* informer : {modules_.get(), nodes_.get(), jobs_.get(), daemon_sets_.get(), pods_.get()})
    informer->list();
  int failed = 0;
  for (const auto& object : modules_->snapshot()) {
    const std::string name = object["metadata"].value("name", "");
    try {
      reconcile_module(name);
    } catch (const std::exception& e) {
      ++failed;
      log_.error("reconcile failed", {{"module", name}, {"error", e.what()}});
    }
  }
  try {
    collect_orphans();
  } catch (const std::exception& e) {
    ++failed;
    log_.error("removing orphans failed", {{"error", e.what()}});
  }
  std::lock_guard lock(mutex_);
  stats_.failures += failed;
  dirty_.clear();
  return failed;
}

void Controller::run(const std::atomic<bool>& stop) {
  stop_ = &stop;
  std::vector<std::thread> threads;
  for (Informer* informer : {modules_.get(), nodes_.get(), jobs_.get(), daemon_sets_.get(), pods_.get()})
    threads.emplace_back([informer, &stop] { informer->run(stop); });
  const auto all_synced = [&] {
    return modules_->synced() && nodes_->synced() && jobs_->synced() && daemon_sets_->synced() && pods_->synced();
  };
  // Deciding before every cache holds a full list would delete what is merely unseen.
  while (!stop && !all_synced()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!stop) log_.info("caches synced", {{"namespace", options_.namespace_name}});

  auto next_resync = Clock::now();
  while (!stop) {
    std::set<std::string> batch;
    bool orphans_due = false;
    {
      std::unique_lock lock(mutex_);
      auto deadline = next_resync;
      for (const auto& [name, retry] : retries_) deadline = std::min(deadline, retry.first);
      // A short wait keeps `stop` responsive without a signal of its own to the queue.
      // Only a module free to run now ends the wait: one waiting for its retry stays in
      // dirty_ and would otherwise turn this into a busy loop until the retry time.
      const auto ready = [&] {
        const auto now = Clock::now();
        for (const auto& name : dirty_) {
          const auto retry = retries_.find(name);
          if (retry == retries_.end() || now >= retry->second.first) return true;
        }
        return false;
      };
      wake_.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(200)),
                       [&] { return ready() || stop; });
      ++stats_.wakeups;
      const auto now = Clock::now();
      if (now >= next_resync) {
        for (const auto& m : modules_->snapshot()) dirty_.insert(m["metadata"].value("name", ""));
        orphans_dirty_ = true;
        next_resync = now + options_.resync;
      }
      for (const auto& [name, retry] : retries_)
        if (now >= retry.first) dirty_.insert(name);
      // A module waiting for its retry is not hammered by every event meanwhile.
      for (const auto& name : dirty_) {
        const auto retry = retries_.find(name);
        if (retry == retries_.end() || now >= retry->second.first) batch.insert(name);
      }
      for (const auto& name : batch) dirty_.erase(name);
      orphans_due = std::exchange(orphans_dirty_, false);
    }
    for (const auto& name : batch) {
      if (stop) break;
      try {
        reconcile_module(name);
        std::lock_guard lock(mutex_);
        retries_.erase(name);
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex_);
        ++stats_.failures;
        auto& retry = retries_[name];
        retry.second =
            retry.second.count() == 0 ? options_.retry_backoff : std::min(retry.second * 2, options_.max_retry_backoff);
        retry.first = Clock::now() + retry.second;
        log_.error("reconcile failed", {{"module", name}, {"error", e.what()}, {"retryInMs", retry.second.count()}});
      }
    }
    if (orphans_due) {
      try {
        collect_orphans();
      } catch (const std::exception& e) {
        log_.error("removing orphans failed", {{"error", e.what()}});
        std::lock_guard lock(mutex_);
        orphans_dirty_ = true;
      }
    }
  }
  for (auto& t : threads) t.join();
}

ControllerStats Controller::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace ckms::op
