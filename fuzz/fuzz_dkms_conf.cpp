// dkms.conf files come with the module sources a user asks ckms to build, and `ckms lint`
// reads them without running anything. The static reader refuses only what is not text (a
// ckms::Error); on any text, what it cannot honour becomes a finding, and resolving its
// variables into a DkmsConf never throws: problems become errors in the DkmsConf.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ckms/base/error.hpp"
#include "ckms/builder/dkms_conf.hpp"
#include "ckms/builder/dkms_conf_static.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto env = ckms::builder::DkmsEnvironment::for_kernel("6.1.0-28-amd64");
  try {
    const auto result = ckms::builder::parse_dkms_conf_static(text, env, "fuzz/dkms.conf");
    (void)ckms::builder::resolve_dkms_conf(result.variables, env).directives_set();
  } catch (const ckms::Error&) {
  }
  return 0;
}
