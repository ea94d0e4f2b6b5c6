#pragma once
// The artifact that a load report and a state record both name, under the same JSON keys,
// and the digests that state and install records read back.

#include <string_view>

#include <nlohmann/json.hpp>

#include "ckms/base/digest.hpp"
#include "ckms/base/error.hpp"

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

// `object[key]` as a digest; a record whose digest does not parse was damaged.
inline Digest digest_at(const nlohmann::json& object, const char* key, std::string_view where) {
  const auto parsed = Digest::try_parse(object.at(key).get<std::string>());
  if (!parsed) fail(ErrorKind::integrity, "{}: '{}' is not a digest", where, key);
  return *parsed;
}

}  // namespace ckms::loader::detail
