#pragma once
// Which certificates decide whether a module may be inserted. The kernel's own keyring is
// fixed when the kernel is built (and without Secure Boot, unsigned modules load anyway), so
// ckms checks every module against certificates the operator lists, before the kernel
// sees the bytes.

#include <filesystem>
#include <string_view>
#include <vector>

#include "ckms/kmod/verify.hpp"

namespace ckms::loader {

inline constexpr std::string_view kDefaultTrustDir = "/etc/ckms/trust.d";

// The certificates in `given` (files or directories, --trust), else those in `default_dir`.
// Refused when there are none: ckms never inserts a module it cannot check.
kmod::TrustedCertificates load_trust(const std::vector<std::filesystem::path>& given,
                                     const std::filesystem::path& default_dir);

}  // namespace ckms::loader
