#pragma once
// The x86-64 guest both loader boots use (the VM test and the early-boot test).

#include <filesystem>
#include <string>
#include <vector>

namespace ckms::loader::test {

// qemu-system-x86_64 under TCG with one CPU and 512 MiB, the serial console written to
// `console`; `panic=-1` and -no-reboot make a guest that fails end qemu instead of hanging.
inline std::vector<std::string> qemu_x86_argv(const std::filesystem::path& vmlinuz, const std::filesystem::path& initrd,
                                              const std::filesystem::path& console, const std::string& append) {
  return {"qemu-system-x86_64",
          "-accel",
          "tcg",
          "-m",
          "512",
          "-smp",
          "1",
          "-no-reboot",
          "-display",
          "none",
          "-monitor",
          "none",
          "-serial",
          "file:" + console.string(),
          "-kernel",
          vmlinuz.string(),
          "-initrd",
          initrd.string(),
          "-append",
          "console=ttyS0 panic=-1 quiet " + append};
}

}  // namespace ckms::loader::test
