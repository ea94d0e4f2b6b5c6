#pragma once
// Is a module for this kernel? DKMS keys builds by kernel release; the kernel itself, with
// CONFIG_MODVERSIONS, skips the release in vermagic and compares symbol CRCs only, so a
// module built for another ABI of the same series can get in. ckms compares the release
// first, on the artifact's claims and then on the bytes.

#include <string_view>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/kmod/modinfo.hpp"

namespace ckms::loader {

// The artifact must be for `kernel_release` and `machine` (uname -r, uname -m): refused.
void check_artifact_kernel(const artifact::ModuleConfig& config, std::string_view kernel_release,
                           std::string_view machine);

// The module bytes (`info`) must be code for `machine` (refused: the ELF header's
// e_machine, whatever the artifact and vermagic say), what the config says (integrity:
// name, vermagic, srcversion) and built for `kernel_release` (refused: the first word of
// vermagic).
void check_module(const kmod::ModInfo& info, const artifact::ModuleFile& file, std::string_view kernel_release,
                  std::string_view machine);

}  // namespace ckms::loader
