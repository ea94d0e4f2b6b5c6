// In-tree dependencies through libkmod, the library modprobe is built on, reading the
// host's modules.dep.bin and modules.builtin.bin. No modprobe.d configuration is read:
// ckms inserts exactly what modules.dep says a module needs, without aliases, options,
// blacklists or install commands.

#include <libkmod.h>

#include <cstdarg>
#include <set>

#include "ckms/base/error.hpp"
#include "ckms/loader/dependencies.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

namespace {

void quiet_log(void*, int, const char*, int, const char*, const char*, va_list) {}

struct ModuleRef {
  kmod_module* module = nullptr;
  ~ModuleRef() {
    if (module != nullptr) kmod_module_unref(module);
  }
};

struct ListRef {
  kmod_list* list = nullptr;
  ~ListRef() {
    if (list != nullptr) kmod_module_unref_list(list);
  }
};

}  // namespace

struct InTreeModules::Context {
  kmod_ctx* ctx = nullptr;
  ~Context() {
    if (ctx != nullptr) kmod_unref(ctx);
  }
};

InTreeModules::InTreeModules(fs::path directory) : directory_(std::move(directory)) {
  std::error_code ec;
  if (!fs::is_directory(directory_, ec)) return;
  static const char* const no_config[] = {nullptr};
  context_ = std::make_unique<Context>();
  context_->ctx = kmod_new(directory_.c_str(), no_config);
  if (context_->ctx == nullptr) fail(ErrorKind::io, "libkmod cannot use {}", directory_.string());
  kmod_set_log_fn(context_->ctx, quiet_log, nullptr);
}

InTreeModules::~InTreeModules() = default;

std::vector<InTreeModule> InTreeModules::plan(const std::vector<Dependency>& needed, Kernel& kernel) {
  std::vector<InTreeModule> order;
  std::set<std::string> visited;

  const auto visit = [&](const auto& self, const std::string& name, const std::string& needed_by) -> void {
    const std::string key = kmod::normalize_module_name(name);
    if (!visited.insert(key).second) return;
    const ModuleState state = kernel.state(key);
    if (state == ModuleState::going) {
      fail(ErrorKind::refused, "module {} needs {}, which is being removed right now; try again", needed_by, key);
    }
    if (state != ModuleState::absent) return;
    const auto missing = [&](std::string_view why) {
      fail(ErrorKind::refused, "missing dependency: module {} needs {}, which is not loaded and {}", needed_by, key,
           why);
    };
    if (!context_) missing(fmt::format("{} does not exist", directory_.string()));

    ModuleRef module;
    const int rc = kmod_module_new_from_name_lookup(context_->ctx, key.c_str(), &module.module);
    if (rc < 0 || module.module == nullptr) {
      missing(fmt::format("is not in {} (modules.dep, modules.builtin)", directory_.string()));
    }
    const char* path = kmod_module_get_path(module.module);
    if (path == nullptr || *path == '\0') {
      if (kmod_module_get_initstate(module.module) == KMOD_MODULE_BUILTIN) return;
      missing(fmt::format("{} lists no file for it", directory_.string()));
    }
    ListRef dependencies;
    dependencies.list = kmod_module_get_dependencies(module.module);
    kmod_list* entry = nullptr;
    kmod_list_foreach(entry, dependencies.list) {
      ModuleRef dependency;
      dependency.module = kmod_module_get_module(entry);
      self(self, kmod_module_get_name(dependency.module), key);
    }
    order.push_back(InTreeModule{.name = key, .path = path});
  };

  for (const auto& dependency : needed) visit(visit, dependency.name, dependency.needed_by);
  return order;
}

std::vector<InTreeModule> plan_in_tree(const fs::path& directory, const std::vector<Dependency>& absent,
                                       Kernel& kernel) {
  return InTreeModules(directory).plan(absent, kernel);
}

}  // namespace ckms::loader
