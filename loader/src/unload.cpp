#include "ckms/loader/unload.hpp"

#include <algorithm>
#include <set>

#include "ckms/base/error.hpp"

namespace ckms::loader {

nlohmann::json UnloadReport::to_json() const {
  return {{"removed", removed},
          {"alreadyGone", already_gone},
          {"dependenciesRemoved", dependencies_removed},
          {"dependenciesKept", dependencies_kept}};
}

UnloadReport unload(const std::vector<std::string>& names, StateStore& state, Kernel& kernel) {
  const StateLock lock = state.lock();
  std::vector<ModuleRecord> all = state.records();
  std::vector<ModuleRecord> chosen;
  if (names.empty()) {
    chosen = all;
  } else {
    for (const auto& name : names) {
      const std::string module = kmod::normalize_module_name(name);
      const auto before = chosen.size();
      for (const auto& record : all) {
        if (record.module == module || record.package == name) chosen.push_back(record);
      }
      if (chosen.size() == before) {
        fail(ErrorKind::not_found, "no module or package '{}' was loaded by ckms (`ckms status` lists what was)", name);
      }
    }
  }
  // Newest load first, and within a load its modules in reverse load order: users before
  // the modules they use.
  std::sort(chosen.begin(), chosen.end(), [](const ModuleRecord& a, const ModuleRecord& b) {
    return std::tie(a.loaded_at, a.order) > std::tie(b.loaded_at, b.order);
  });
  chosen.erase(std::unique(chosen.begin(), chosen.end(),
                           [](const ModuleRecord& a, const ModuleRecord& b) { return a.module == b.module; }),
               chosen.end());

  UnloadReport report;
  std::vector<std::string> dependencies;
  for (const auto& record : chosen) {
    if (kernel.state(record.module) == ModuleState::absent) {
      report.already_gone.push_back(record.module);
    } else {
      kernel.remove(record.module);
      report.removed.push_back(record.module);
    }
    state.erase(record.module);
    for (auto it = record.dependencies_inserted.rbegin(); it != record.dependencies_inserted.rend(); ++it) {
      if (std::find(dependencies.begin(), dependencies.end(), *it) == dependencies.end()) dependencies.push_back(*it);
    }
  }
  // A dependency another ckms module still records is left alone even when the kernel
  // would let it go, e.g. when that module is gone already.
  std::set<std::string> still_recorded;
  for (const auto& record : state.records()) {
    still_recorded.insert(record.module);
    for (const auto& d : record.dependencies_inserted) still_recorded.insert(d);
  }
  for (const auto& dependency : dependencies) {
    if (still_recorded.contains(dependency) || kernel.state(dependency) == ModuleState::absent) continue;
    try {
      kernel.remove(dependency);
      report.dependencies_removed.push_back(dependency);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::refused) throw;
      report.dependencies_kept.push_back(dependency);
    }
  }
  return report;
}

}  // namespace ckms::loader
