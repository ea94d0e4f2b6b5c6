#pragma once
// A model of the kernel's module table for the loader's unit tests: what is loaded, with
// which parameters, in which order. It refuses what the kernel refuses (a name that is
// loaded, a module whose depends= are not loaded, removing a module others use) and can be
// told to fail one module's init. The real system calls run in the VM test.

#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ckms/base/error.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "ckms/loader/kernel.hpp"

namespace ckms::loader::test {

class ModelKernel final : public Kernel {
 public:
  struct Loaded {
    std::string srcversion;
    std::string parameters;
    std::vector<std::string> depends;
    std::string bytes;  // what the kernel was given
  };

  std::string release_ = "6.1.0-56-cloud-amd64";
  std::string machine_ = "x86_64";
  std::map<std::string, Loaded> loaded;
  std::set<std::string> builtin;
  std::set<std::string> going;          // being removed
  std::set<std::string> fail_init;      // init returns -ENODEV
  std::vector<std::string> insertions;  // every successful insert, in order
  std::vector<std::string> removals;
  int file_inserts = 0;    // through finit_module (a file), not init_module
  SignaturePolicy policy;  // enforces nothing unless a test says so
  KernelKeys keys;

  std::string release() override { return release_; }
  SignaturePolicy signature_policy() override { return policy; }
  KernelKeys trusted_keys() override { return keys; }
  std::string machine() override { return machine_; }

  ModuleState state(std::string_view module) override {
    const std::string name = kmod::normalize_module_name(module);
    if (builtin.contains(name)) return ModuleState::builtin;
    if (going.contains(name)) return ModuleState::going;
    return loaded.contains(name) ? ModuleState::live : ModuleState::absent;
  }

  std::optional<std::string> srcversion(std::string_view module) override {
    const auto it = loaded.find(kmod::normalize_module_name(module));
    if (it == loaded.end() || it->second.srcversion.empty()) return std::nullopt;
    return it->second.srcversion;
  }

  void insert(const ModuleImage& image, const std::string& parameters) override {
    std::string bytes = image.bytes;
    if (image.file) {
      ++file_inserts;
      bytes.clear();
      char buffer[4096];
      for (off_t offset = 0;;) {
        const ssize_t n = ::pread(image.file.get(), buffer, sizeof buffer, offset);
        if (n <= 0) break;
        bytes.append(buffer, static_cast<std::size_t>(n));
        offset += n;
      }
    }
    const auto info = kmod::read_modinfo(bytes, image.what);
    const std::string name = kmod::normalize_module_name(info.name);
    if (name != image.name) fail(ErrorKind::internal, "model kernel: image {} holds module {}", image.name, name);
    if (loaded.contains(name)) fail(ErrorKind::refused, "inserting {} failed: already loaded", name);
    for (const auto& dependency : info.depends) {
      if (state(dependency) == ModuleState::absent) {
        fail(ErrorKind::refused, "inserting {} failed: unknown symbol (needs {})", name, dependency);
      }
    }
    if (fail_init.contains(name)) fail(ErrorKind::io, "inserting {} failed: No such device", name);
    std::vector<std::string> depends;
    for (const auto& d : info.depends) depends.push_back(kmod::normalize_module_name(d));
    loaded[name] = Loaded{info.srcversion, parameters, depends, bytes};
    insertions.push_back(name);
  }

  void remove(std::string_view module) override {
    const std::string name = kmod::normalize_module_name(module);
    if (!loaded.contains(name)) fail(ErrorKind::not_found, "module {} is not loaded", name);
    for (const auto& [other, entry] : loaded) {
      if (std::find(entry.depends.begin(), entry.depends.end(), name) != entry.depends.end()) {
        fail(ErrorKind::refused, "module {} is in use by {}", name, other);
      }
    }
    loaded.erase(name);
    removals.push_back(name);
  }
};

}  // namespace ckms::loader::test
