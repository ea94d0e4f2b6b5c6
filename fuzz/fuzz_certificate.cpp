// The direct signature check reads the operator's trusted certificates as DER by hand
// (kmod/src/direct_signature.cpp), and a node trusts its reading: it must refuse or return
// fields that lie inside the input, never read past it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "direct_signature.hpp"

namespace {

bool inside(std::string_view part, std::string_view whole) { return whole.find(part) != std::string_view::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view der(reinterpret_cast<const char*>(data), size);
  const auto fields = ckms::kmod::direct::read_fields(der);
  if (!fields) return 0;
  for (std::string_view part : {std::string_view(fields->issuer), std::string_view(fields->subject),
                                std::string_view(fields->subject_key_id), std::string_view(fields->rsa_public_key)}) {
    if (!inside(part, der)) std::abort();
  }
  if (fields->serial.size() > size) std::abort();
  return 0;
}
