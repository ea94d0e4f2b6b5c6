#pragma once
// The CMS of a module signature, parsed once for both who signed (read_signer) and whether
// the signature holds (verify_module).

#include <string_view>

#include "ckms/kmod/signature.hpp"
#include "openssl.hpp"

namespace ckms::kmod {

// A SignedData with exactly one signer; integrity error naming `what` otherwise.
ossl::Cms parse_signature_cms(std::string_view cms_der, std::string_view what);

// Who signed, from a CMS that parse_signature_cms accepted.
SignerId signer_of(CMS_ContentInfo* cms, std::string_view what);

}  // namespace ckms::kmod
