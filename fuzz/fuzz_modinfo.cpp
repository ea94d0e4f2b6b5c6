// Modules come from artifacts pulled from a registry; the loader reads their .modinfo before
// it trusts anything else about them. Reading either yields a ModInfo or a ckms::Error, for
// plain ELF as well as xz/zstd-compressed input (bounded decompression).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ckms/base/error.hpp"
#include "ckms/kmod/modinfo.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view module(reinterpret_cast<const char*>(data), size);
  try {
    // A small decompression limit keeps each run fast; the limit itself is what is tested.
    (void)ckms::kmod::read_modinfo(module, "fuzz.ko", 1 << 20);
  } catch (const ckms::Error&) {
  }
  return 0;
}
