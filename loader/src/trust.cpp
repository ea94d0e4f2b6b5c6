#include "ckms/loader/trust.hpp"

#include "ckms/base/error.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

kmod::TrustedCertificates load_trust(const std::vector<fs::path>& given, const fs::path& default_dir) {
  if (!given.empty()) return kmod::TrustedCertificates::load(given);
  std::error_code ec;
  bool any = false;
  for (const auto& entry : fs::directory_iterator(default_dir, ec)) {
    if (!entry.path().filename().string().starts_with(".")) any = true;
  }
  if (!any) {
    fail(ErrorKind::refused,
         "no trusted certificates: give --trust FILE|DIR or put the signing certificates in {}; "
         "ckms inserts only modules signed by a certificate it trusts",
         default_dir.string());
  }
  return kmod::TrustedCertificates::load({default_dir});
}

}  // namespace ckms::loader
