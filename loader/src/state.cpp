#include "ckms/loader/state.hpp"

#include <algorithm>
#include <fstream>

#include "artifact_json.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/time.hpp"
#include "ckms/loader/kernel.hpp"
#include "record_files.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;
using nlohmann::json;

nlohmann::json ModuleRecord::to_json() const {
  json j = detail::artifact_json(*this);
  j.update({{"module", module},
            {"file", file},
            {"fileDigest", file_digest.str()},
            {"srcversion", srcversion},
            {"signer", signer},
            {"parameters", parameters},
            {"parameterSources", parameter_sources},
            {"dependenciesInserted", dependencies_inserted},
            {"order", order},
            {"inserted", inserted},
            {"loadedAt", loaded_at},
            {"bootId", boot_id}});
  return j;
}

ModuleRecord ModuleRecord::from_json(const nlohmann::json& j, std::string_view where) {
  try {
    ModuleRecord r{.module = j.at("module").get<std::string>(),
                   .package = j.at("package").get<std::string>(),
                   .version = j.at("version").get<std::string>(),
                   .kernel_release = j.at("kernelRelease").get<std::string>(),
                   .arch = j.at("arch").get<std::string>(),
                   .source = j.at("source").get<std::string>(),
                   .cache_name = j.at("cacheName").get<std::string>(),
                   .manifest = detail::digest_at(j, "manifest", where),
                   .file = j.at("file").get<std::string>(),
                   .file_digest = detail::digest_at(j, "fileDigest", where),
                   .srcversion = j.at("srcversion").get<std::string>(),
                   .signer = j.at("signer").get<std::string>(),
                   .parameters = j.at("parameters").get<artifact::ParameterValues>(),
                   .parameter_sources = j.value("parameterSources", artifact::ParameterValues{}),
                   .dependencies_inserted = j.at("dependenciesInserted").get<std::vector<std::string>>(),
                   .order = j.at("order").get<int>(),
                   .inserted = j.at("inserted").get<bool>(),
                   .loaded_at = j.at("loadedAt").get<std::string>(),
                   .boot_id = j.at("bootId").get<std::string>()};
    if (r.module != kmod::normalize_module_name(r.module) || r.module.find('/') != std::string::npos) {
      fail(ErrorKind::integrity, "{}: '{}' is not a module name", where, r.module);
    }
    return r;
  } catch (const json::exception& e) {
    fail(ErrorKind::integrity, "{}: not a ckms module record: {}", where, e.what());
  }
}

std::string current_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

StateStore::StateStore(fs::path directory) : directory_(std::move(directory)) {}

StateLock StateStore::lock() {
  // The records say what to unload and with which parameters: only root's own will do.
  ckms::ensure_private_directory(directory_, 0755, "state directory");
  std::error_code ec;
  fs::create_directories(directory_ / "modules", ec);
  if (ec) fail(ErrorKind::io, "cannot create the state directory {}: {}", directory_.string(), ec.message());
  return detail::lock_records(directory_ / "lock");
}

fs::path StateStore::record_path(std::string_view module) const {
  const std::string name = kmod::normalize_module_name(module);
  if (name.empty() || name.find('/') != std::string::npos || name.starts_with(".")) {
    fail(ErrorKind::usage, "'{}' is not a kernel module name", module);
  }
  return directory_ / "modules" / (name + ".json");
}

std::vector<ModuleRecord> StateStore::records() const {
  auto out = detail::read_records<ModuleRecord>(directory_ / "modules");
  std::sort(out.begin(), out.end(), [](const ModuleRecord& a, const ModuleRecord& b) {
    return std::tie(a.loaded_at, a.package, a.order) < std::tie(b.loaded_at, b.package, b.order);
  });
  return out;
}

std::optional<ModuleRecord> StateStore::find(std::string_view module) const {
  return detail::find_record<ModuleRecord>(record_path(module));
}

void StateStore::write(const ModuleRecord& record) {
  detail::write_record(record_path(record.module), record.to_json());
}

void StateStore::erase(std::string_view module) { detail::erase_record(record_path(module)); }

}  // namespace ckms::loader
