#pragma once
// The artifact that a load report and a state record both name, under the same JSON keys.

#include <nlohmann/json.hpp>

namespace ckms::loader::detail {

// `loaded` is a LoadReport or a ModuleRecord.
template <class Loaded>
nlohmann::json artifact_json(const Loaded& loaded) {
  return {{"package", loaded.package},
          {"version", loaded.version},
          {"kernelRelease", loaded.kernel_release},
          {"arch", loaded.arch},
          {"source", loaded.source},
          {"cacheName", loaded.cache_name},
          {"manifest", loaded.manifest.str()}};
}

}  // namespace ckms::loader::detail
