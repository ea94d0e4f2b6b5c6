#include "ckms/loader/status.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include <fmt/format.h>

namespace ckms::loader {

std::string_view to_string(ModuleStatus status) {
  switch (status) {
    case ModuleStatus::loaded: return "loaded";
    case ModuleStatus::not_loaded: return "not-loaded";
    case ModuleStatus::changed: return "changed";
    case ModuleStatus::installed: return "installed";
    case ModuleStatus::cached: return "cached";
  }
  return "unknown";
}

std::string StatusEntry::line() const {
  std::string line = fmt::format("{}/{}, {}, {}: {}", module, version, kernel_release, arch, to_string(status));
  if (!record) return line;
  for (const auto& [name, value] : record->parameters) {
    const auto source = record->parameter_sources.find(name);
    line += fmt::format("\n  {}={} ({})", name, value,
                        source == record->parameter_sources.end() ? "source not recorded" : source->second);
  }
  return line;
}

nlohmann::json StatusEntry::to_json() const {
  nlohmann::json j{
      {"module", module}, {"package", package},         {"version", version}, {"kernelRelease", kernel_release},
      {"arch", arch},     {"state", to_string(status)}, {"source", source}};
  if (record) j["record"] = record->to_json();
  return j;
}

namespace {

ModuleStatus live_status(Kernel& kernel, const ModuleRecord& record) {
  switch (kernel.state(record.module)) {
    case ModuleState::absent:
    case ModuleState::going: return ModuleStatus::not_loaded;
    case ModuleState::builtin: return ModuleStatus::changed;
    case ModuleState::live:
    case ModuleState::coming: break;
  }
  const auto srcversion = kernel.srcversion(record.module);
  if (!record.srcversion.empty() && srcversion && *srcversion != record.srcversion) return ModuleStatus::changed;
  return ModuleStatus::loaded;
}

}  // namespace

std::vector<StatusEntry> status(const StateStore& state, ModuleCache* cache, Kernel& kernel,
                                const InstallRecords* installed) {
  std::vector<StatusEntry> out;
  std::set<std::tuple<std::string, std::string, std::string>> seen;  // module, version, kernel
  const std::string boot = current_boot_id();
  for (auto& record : state.records()) {
    ModuleStatus s = ModuleStatus::not_loaded;
    // A record of an earlier boot (a persistent state directory) says nothing about now.
    if (record.boot_id.empty() || record.boot_id == boot) s = live_status(kernel, record);
    seen.emplace(record.module, record.version, record.kernel_release);
    out.push_back(StatusEntry{.module = record.module,
                              .package = record.package,
                              .version = record.version,
                              .kernel_release = record.kernel_release,
                              .arch = record.arch,
                              .status = s,
                              .source = record.source,
                              .record = std::move(record)});
  }
  std::set<std::tuple<std::string, std::string, std::string>> installed_seen;
  if (installed != nullptr) {
    for (const auto& release : installed->releases()) {
      for (const auto& record : installed->records(release)) {
        for (const auto& file : record.files) {
          installed_seen.emplace(file.module, record.version, record.kernel_release);
          out.push_back(StatusEntry{.module = file.module,
                                    .package = record.package,
                                    .version = record.version,
                                    .kernel_release = record.kernel_release,
                                    .arch = record.arch,
                                    .status = ModuleStatus::installed,
                                    .source = record.source});
        }
      }
    }
  }
  seen.insert(installed_seen.begin(), installed_seen.end());
  if (cache != nullptr) {
    for (const auto& artifact : cache->artifacts()) {
      for (const auto& file : artifact.config.files) {
        const std::string module = kmod::normalize_module_name(file.module_name);
        if (!seen.emplace(module, artifact.config.version, artifact.config.kernel_release).second) continue;
        out.push_back(StatusEntry{.module = module,
                                  .package = artifact.config.name,
                                  .version = artifact.config.version,
                                  .kernel_release = artifact.config.kernel_release,
                                  .arch = artifact.config.arch,
                                  .status = ModuleStatus::cached,
                                  .source = artifact.repository});
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const StatusEntry& a, const StatusEntry& b) {
    return std::tie(a.module, a.version, a.kernel_release) < std::tie(b.module, b.version, b.kernel_release);
  });
  return out;
}

}  // namespace ckms::loader
