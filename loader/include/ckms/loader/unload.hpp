#pragma once
// `ckms unload NAME...`: removes what ckms loaded, by module name or package name, newest
// first, then the in-tree dependencies those loads inserted that nothing uses any more
// (as `modprobe -r` does). Modules ckms did not load are not its to remove.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/loader/kernel.hpp"
#include "ckms/loader/state.hpp"

namespace ckms::loader {

struct UnloadReport {
  std::vector<std::string> removed;
  std::vector<std::string> already_gone;  // recorded, but the kernel no longer had it
  std::vector<std::string> dependencies_removed;
  std::vector<std::string> dependencies_kept;  // still in use

  nlohmann::json to_json() const;
};

// `names`: modules or packages; empty means every module ckms loaded. not_found when a
// name matches no record; refused (record kept) when a module is in use.
UnloadReport unload(const std::vector<std::string>& names, StateStore& state, Kernel& kernel);

}  // namespace ckms::loader
