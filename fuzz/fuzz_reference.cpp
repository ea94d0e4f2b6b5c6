// References come from the command line, config files and annotations of pulled artifacts.
// Parsing either yields a reference or a ckms::Error; a parsed reference prints as text that
// parses back to the same reference (the CLI and the artifacts store references as text).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ckms/base/error.hpp"
#include "ckms/oci/reference.hpp"

using ckms::oci::Reference;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)ckms::oci::is_valid_tag(text);
  (void)ckms::oci::is_valid_repository(text);
  // A sanitized text is a valid tag by definition (kernel releases become tags this way);
  // tags are at most 128 characters, so only short texts can hold the promise.
  if (size <= 128 && size > 0 && !ckms::oci::is_valid_tag(ckms::oci::sanitize_tag(text))) {
    std::abort();
  }
  try {
    const Reference ref = Reference::parse(text);
    const std::string printed = ref.str();
    if (Reference::parse(printed).str() != printed) std::abort();
    if (!ref.is_layout()) {
      (void)ref.registry().api_host();
      (void)ref.registry().manifest_reference();
    }
  } catch (const ckms::Error&) {
  }
  return 0;
}
