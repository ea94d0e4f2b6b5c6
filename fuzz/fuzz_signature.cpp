// The signature trailer and its CMS are read from modules pulled from a registry before the
// signature is verified, so they are attacker-controlled. Splitting either finds no
// signature, a well-formed one whose views lie inside the input, or a ckms::Error; reading
// the signer either succeeds or is a ckms::Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ckms/base/error.hpp"
#include "ckms/kmod/signature.hpp"

namespace {

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view module(reinterpret_cast<const char*>(data), size);
  try {
    const auto stripped = ckms::kmod::strip_signature(module, "fuzz.ko");
    if (!inside(stripped, module) || stripped.data() != module.data()) std::abort();
  } catch (const ckms::Error&) {
  }
  try {
    const auto signature = ckms::kmod::split_signature(module, "fuzz.ko");
    if (!signature) return 0;
    if (!inside(signature->content, module) || !inside(signature->cms_der, module)) std::abort();
    (void)ckms::kmod::read_signer(signature->cms_der, "fuzz.ko");
  } catch (const ckms::Error&) {
  }
  // The CMS parser on its own: most mutations of a whole module never reach it.
  try {
    (void)ckms::kmod::read_signer(module, "fuzz.ko");
  } catch (const ckms::Error&) {
  }
  return 0;
}
