#pragma once
// The `.modinfo` section of a kernel module: what `modinfo` prints, read with libelf from
// untrusted bytes. Every malformed input is an Error naming the module, never a crash.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckms/kmod/compress.hpp"

namespace ckms::kmod {

// The kernel spells module names with '_' where file names and modinfo `depends=` may
// have '-'; lookups and comparisons use this form.
std::string normalize_module_name(std::string_view name);

struct ModuleParameter {
  std::string name;
  std::string type;         // from parmtype=, e.g. "charp", "int"; empty when absent
  std::string description;  // from parm=; empty when absent
};

struct ModInfo {
  // The ELF header's e_machine as `uname -m` names that machine (x86_64, aarch64), or
  // "elf-machine-<number>": which CPU the module's code is for, whatever anything says.
  std::string machine;
  std::string name;
  std::string vermagic;
  std::string srcversion;
  std::string license;
  std::string retpoline;                    // "Y" when built with retpolines, else empty
  std::string intree;                       // "Y" for in-tree modules, else empty
  std::vector<std::string> depends;         // `depends=` split on ','; empty when none
  std::vector<ModuleParameter> parameters;  // in source order, as kmod prints them
  // Every key=value in section order, including the ones above and repeated keys
  // (alias, firmware, ...).
  std::vector<std::pair<std::string, std::string>> entries;

  // First value of `key`, if any.
  std::optional<std::string> value(std::string_view key) const;
  // All values of `key`, in order.
  std::vector<std::string> values(std::string_view key) const;
};

// Parses uncompressed module bytes; xz/zstd input (detected by magic) is decompressed first,
// at most `limit` bytes. `what` names the module in errors (kind integrity for malformed
// content, usage for something that is not an ELF file at all).
ModInfo read_modinfo(std::string_view module, std::string_view what, std::uint64_t limit = kDefaultDecompressLimit);

ModInfo read_modinfo_file(const std::filesystem::path& file, std::uint64_t limit = kDefaultDecompressLimit);

}  // namespace ckms::kmod
