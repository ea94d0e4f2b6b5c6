#include "ckms/loader/vermagic.hpp"

#include "ckms/base/error.hpp"
#include "ckms/loader/kernel.hpp"

namespace ckms::loader {

void check_artifact_kernel(const artifact::ModuleConfig& config, std::string_view kernel_release,
                           std::string_view machine) {
  if (config.kernel_release != kernel_release) {
    fail(ErrorKind::refused, "wrong kernel: {} {} is built for kernel {}, this kernel is {}", config.name,
         config.version, config.kernel_release, kernel_release);
  }
  if (config.arch != machine) {
    fail(ErrorKind::refused, "wrong architecture: {} {} is built for {}, this machine is {}", config.name,
         config.version, config.arch, machine);
  }
}

void check_module(const kmod::ModInfo& info, const artifact::ModuleFile& file, std::string_view kernel_release,
                  std::string_view machine) {
  // The ELF header first: the artifact's arch and the vermagic are words anyone can write,
  // the machine type is what the code is.
  if (info.machine != machine) {
    fail(ErrorKind::refused, "wrong architecture: {} (module {}) is code for {} (ELF e_machine), this machine is {}",
         file.file_name, info.name, info.machine, machine);
  }
  if (kmod::normalize_module_name(info.name) != kmod::normalize_module_name(file.module_name)) {
    fail(ErrorKind::integrity, "{}: the artifact says module {}, but the file is module '{}'", file.file_name,
         file.module_name, info.name);
  }
  if (!file.vermagic.empty() && file.vermagic != info.vermagic) {
    fail(ErrorKind::integrity, "{}: the artifact says vermagic '{}', but the file has '{}'", file.file_name,
         file.vermagic, info.vermagic);
  }
  if (!file.srcversion.empty() && file.srcversion != info.srcversion) {
    fail(ErrorKind::integrity, "{}: the artifact says srcversion {}, but the file has {}", file.file_name,
         file.srcversion, info.srcversion);
  }
  const std::string_view vermagic = info.vermagic;
  const std::string_view built_for = vermagic.substr(0, vermagic.find(' '));
  if (built_for != kernel_release) {
    fail(ErrorKind::refused, "wrong kernel: {} (module {}) was built for kernel {} (vermagic '{}'), this kernel is {}",
         file.file_name, info.name, built_for.empty() ? "?" : built_for, info.vermagic, kernel_release);
  }
}

}  // namespace ckms::loader
