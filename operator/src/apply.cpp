#include "ckms/operator/apply.hpp"

#include <map>

#include <fmt/format.h>

#include "ckms/operator/resources.hpp"
#include "ckms/operator/workloads.hpp"

namespace ckms::op {
namespace {

using nlohmann::json;

std::string name_of(const json& object) { return object.at("metadata").value("name", ""); }
std::string namespace_of(const json& object) { return object.at("metadata").value("namespace", ""); }
bool being_deleted(const json& object) {
  return object.at("metadata").contains("deletionTimestamp") && !object["metadata"]["deletionTimestamp"].is_null();
}

}  // namespace

json replace_with_retry(KubeClient& client, const std::string& path, json current,
                        const std::function<void(json&)>& mutate, int attempts, int* conflicts) {
  for (int attempt = 1;; ++attempt) {
    json next = current;
    mutate(next);
    try {
      return client.replace(path, next);
    } catch (const ApiError& e) {
      if (e.status() != 409 || attempt >= attempts) throw;
      if (conflicts) ++*conflicts;
      current = client.get(path);  // someone else wrote: start from their version
    }
  }
}

void Applier::sync_one(const Resource& resource, const json& d, const json* current, const Observed& context,
                       ApplyStats& stats) {
  const std::string name = name_of(d);
  json fetched;
  if (!current) {
    try {
      client_.create(resource.collection(namespace_of(d)), d);
      ++stats.created;
      const bool job = resource.kind == resource::jobs.kind;
      if (events_.record(context.module, "Normal", job ? "BuildStarted" : "LoaderStarted",
                         fmt::format("{} {} for kernel {}", resource.kind, name, kernel_release_of(d)), context.now))
        ++stats.events;
      return;
    } catch (const ApiError& e) {
      if (e.status() != 409) throw;
      // Our cache lags behind the server: compare with what is really there.
      fetched = client_.get(resource.object(namespace_of(d), name));
      current = &fetched;
    }
  }
  if (being_deleted(*current)) return;  // recreated once it is gone
  if (spec_hash(*current) != spec_hash(d)) {
    // Job templates are immutable and a changed loader must restart its pods anyway.
    if (client_.remove(resource.object(namespace_of(d), name))) ++stats.deleted;
    return;
  }
  if (resource.kind == resource::daemon_sets.kind && pinned_nodes(*current) != pinned_nodes(d)) {
    const std::vector<std::string> nodes = pinned_nodes(d);
    // The cache holds a trimmed copy (cache_trim.hpp): the object written back is read whole.
    const std::string path = resource.object(namespace_of(d), name);
    replace_with_retry(
        client_, path, client_.get(path), [&](json& object) { pin_nodes(object, nodes); }, 5, &stats.conflicts);
    ++stats.updated;
  }
}

namespace {
// A refusal (validation, admission, RBAC) that asking again unchanged will not turn into
// a yes; conflicts, throttling and server errors are not refusals.
bool refused(const ApiError& e) {
  return e.status() >= 400 && e.status() < 500 && e.status() != 409 && e.status() != 429;
}
}  // namespace

void Applier::sync(const Resource& resource, const std::vector<json>& observed, const std::vector<json>& desired,
                   const Observed& context, ApplyStats& stats) {
  std::map<std::string, const json*> existing;
  for (const auto& o : observed) existing[name_of(o)] = &o;
  std::map<std::string, bool> wanted;
  for (const auto& d : desired) {
    wanted[name_of(d)] = true;
    const auto it = existing.find(name_of(d));
    try {
      sync_one(resource, d, it == existing.end() ? nullptr : it->second, context, stats);
    } catch (const ApiError& e) {
      if (!refused(e)) throw;
      stats.refused.push_back(e.what());
    }
  }
  for (const auto& o : observed) {
    if (wanted.contains(name_of(o)) || being_deleted(o)) continue;
    try {
      if (client_.remove(resource.object(namespace_of(o), name_of(o)))) ++stats.deleted;
    } catch (const ApiError& e) {
      if (!refused(e)) throw;
      stats.refused.push_back(e.what());
    }
  }
}

ApplyStats Applier::apply(const Observed& observed, const json& module_object, const Desired& desired) {
  ApplyStats stats;
  const KernelModule& module = observed.module;
  if (module.deleting) return stats;
  sync(resource::jobs, observed.jobs, desired.jobs, observed, stats);
  sync(resource::daemon_sets, observed.daemon_sets, desired.daemon_sets, observed, stats);
  for (const auto& e : desired.events)
    if (events_.record(module, e.type, e.reason, e.message, observed.now)) ++stats.events;

  KernelModuleStatus status = desired.status;
  for (const auto& why : stats.refused) {
    mark_degraded(status, module, ConditionReason::workload_rejected, why, observed.now);
    if (events_.record(module, "Warning", "WorkloadRejected", why, observed.now)) ++stats.events;
  }
  if (!(status == module.status)) {
    const json written = to_json(status);
    replace_with_retry(
        client_, resource::kernel_modules.object(module.namespace_name, module.name, "status"), module_object,
        [&](json& object) { object["status"] = written; }, 5, &stats.conflicts);
    ++stats.status_writes;
  }
  if (!stats.refused.empty())
    fail(ErrorKind::refused, "KernelModule {}/{}: the API server refused {} write{}: {}", module.namespace_name,
         module.name, stats.refused.size(), stats.refused.size() == 1 ? "" : "s", stats.refused.front());
  return stats;
}

int Applier::remove(const std::vector<json>& objects) {
  int removed = 0;
  for (const auto& o : objects) {
    if (being_deleted(o)) continue;
    const std::string kind = o.value("kind", "");
    const Resource& resource = kind == resource::jobs.kind ? resource::jobs : resource::daemon_sets;
    if (client_.remove(resource.object(namespace_of(o), name_of(o)))) ++removed;
  }
  return removed;
}

}  // namespace ckms::op
