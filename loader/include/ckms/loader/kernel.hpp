#pragma once
// The loader's only contact with the kernel: insert and remove modules, and ask what is
// loaded. Everything that decides (what to verify, what to insert in which order, what to
// roll back) talks to this interface, so unit tests run that logic on real layouts and
// really signed modules with a kernel model, and the VM test runs the same logic through
// LinuxKernel's real system calls.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/base/io.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "ckms/loader/kernel_keys.hpp"

namespace ckms::loader {

// What /sys/module/<name>/initstate says; `builtin` when the directory exists without it
// (a built-in module with parameters); `absent` when there is no directory.
enum class ModuleState { absent, live, coming, going, builtin };

std::string_view to_string(ModuleState state);

// Module bytes ready for the kernel, already verified by the caller.
struct ModuleImage {
  std::string name;   // as the kernel will call it (modinfo name)
  std::string what;   // names the source in messages: file name and digest
  std::string bytes;  // the uncompressed module, signature included
  // The file `bytes` were read from, when they are exactly its content: handed to
  // finit_module so the kernel (and any LSM that appraises files) sees a file. Compressed
  // files never get here: the Debian kernel cannot decompress, so their decompressed bytes
  // go to init_module, as kmod does.
  ckms::UniqueFd file;
};

class Kernel {
 public:
  virtual ~Kernel() = default;

  virtual std::string release() = 0;  // uname -r
  virtual std::string machine() = 0;  // uname -m

  virtual ModuleState state(std::string_view module) = 0;
  // /sys/module/<name>/srcversion, when the module has one.
  virtual std::optional<std::string> srcversion(std::string_view module) = 0;

  // Inserts with `parameters` ("name=value name2=\"a b\""). Errors name the module and
  // the kernel's reason: refused for EPERM/EKEYREJECTED (policy), usage for ENOEXEC/EINVAL
  // (a module this kernel cannot take), io otherwise.
  virtual void insert(const ModuleImage& image, const std::string& parameters) = 0;

  // Removes without waiting (O_NONBLOCK, as rmmod does): refused while the module is in
  // use, naming its holders; not_found when it is not loaded.
  virtual void remove(std::string_view module) = 0;

  // What the kernel demands of a module's signature, and the keys it checks them with.
  virtual SignaturePolicy signature_policy() = 0;
  virtual KernelKeys trusted_keys() = 0;
};

// The running kernel: uname(2), finit_module/init_module/delete_module(2), /sys/module.
class LinuxKernel final : public Kernel {
 public:
  // `sysfs_modules`: where the module directories live (a container may mount it elsewhere).
  explicit LinuxKernel(std::string sysfs_modules = "/sys/module");

  std::string release() override;
  std::string machine() override;
  ModuleState state(std::string_view module) override;
  std::optional<std::string> srcversion(std::string_view module) override;
  void insert(const ModuleImage& image, const std::string& parameters) override;
  void remove(std::string_view module) override;
  SignaturePolicy signature_policy() override;
  KernelKeys trusted_keys() override;

 private:
  std::string sysfs_modules_;
};

}  // namespace ckms::loader
