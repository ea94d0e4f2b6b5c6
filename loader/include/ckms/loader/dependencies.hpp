#pragma once
// In-tree dependencies: a module from an artifact may need modules of the kernel itself
// (modinfo `depends=`). They come from the host's /lib/modules/<release> through libkmod,
// as modprobe finds them, and are inserted before the artifact's modules; the loader
// remembers which ones it inserted, to roll back and to unload them.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ckms/loader/kernel.hpp"

namespace ckms::loader {

inline constexpr std::string_view kDefaultModulesRoot = "/lib/modules";

struct InTreeModule {
  std::string name;  // normalised
  std::filesystem::path path;
};

struct Dependency {
  std::string name;       // as modinfo `depends=` spells it
  std::string needed_by;  // the artifact module that needs it
};

class InTreeModules {
 public:
  // `directory`: /lib/modules/<release>, with modules.dep.bin (depmod). A directory that
  // does not exist is a host without modules: only loaded or built-in dependencies exist.
  explicit InTreeModules(std::filesystem::path directory);
  ~InTreeModules();
  InTreeModules(const InTreeModules&) = delete;
  InTreeModules& operator=(const InTreeModules&) = delete;

  // The modules to insert, dependencies of dependencies first, so that every needed name
  // is present; what `kernel` reports loaded or what modules.builtin lists is skipped.
  // Refused naming the module, who needs it and where it was looked for, when one is
  // nowhere.
  std::vector<InTreeModule> plan(const std::vector<Dependency>& needed, Kernel& kernel);

  const std::filesystem::path& directory() const { return directory_; }

 private:
  struct Context;
  std::filesystem::path directory_;
  std::unique_ptr<Context> context_;
};

// What load() asks for the dependencies the kernel lacks. A parameter, not a call, because
// libkmod is linked into ckms-full only: the node binary's planner hands such a load over to
// ckms-full, while dependencies that are already loaded need no planner at all.
using InTreePlanner = std::function<std::vector<InTreeModule>(const std::filesystem::path& directory,
                                                              const std::vector<Dependency>& absent, Kernel& kernel)>;

// InTreeModules(directory).plan(absent, kernel).
std::vector<InTreeModule> plan_in_tree(const std::filesystem::path& directory, const std::vector<Dependency>& absent,
                                       Kernel& kernel);

}  // namespace ckms::loader
