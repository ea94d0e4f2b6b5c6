#pragma once
// The signature the kernel's scripts/sign-file appends to a module:
//
//   module bytes | PKCS#7 (CMS) DER | struct module_signature | "~Module signature appended~\n"
//
// struct module_signature (include/linux/module_signature.h) is 12 bytes: u8 algo, hash,
// id_type (2 = PKEY_ID_PKCS7), signer_len, key_id_len, pad[3], __be32 sig_len.
// For PKCS#7 every field but id_type and sig_len is zero; the CMS carries the rest.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace ckms::kmod {

inline constexpr std::string_view kSignatureMagic = "~Module signature appended~\n";
inline constexpr std::size_t kSignatureInfoSize = 12;
inline constexpr std::uint8_t kPkeyIdPkcs7 = 2;

struct AppendedSignature {
  std::string_view content;  // the signed bytes: everything before the CMS
  std::string_view cms_der;  // the detached PKCS#7 SignedData
};

// Splits a (decompressed) module. Returns nullopt when it carries no signature magic;
// fails with an integrity error naming `what` when the trailer is malformed (sig_len out of
// range, id_type not PKCS#7, non-zero fields the kernel rejects). The views point into
// `module`.
std::optional<AppendedSignature> split_signature(std::string_view module, std::string_view what);

// The bytes before the signature, or the module itself when unsigned.
std::string_view strip_signature(std::string_view module, std::string_view what);

// Who signed, as recorded in the CMS SignerInfo. sign-file records issuer and serial by
// default and the subject key identifier with -k; the certificate itself is not included.
struct SignerId {
  std::string issuer;       // one line, e.g. "CN = ckms module signing key"
  std::string serial;       // upper-case hex, as `modinfo -F sig_key` prints it without colons
  std::string key_id;       // subject key identifier, upper-case hex; empty unless -k was used
  std::string digest;       // digest algorithm short name: "sha256", "sha512", ...
  std::string signer_name;  // the issuer's CN (else its last entry), as `modinfo -F signer`
};

// Parses the CMS DER (integrity error naming `what` when it is not a SignedData with exactly
// one signer).
SignerId read_signer(std::string_view cms_der, std::string_view what);

// The signer of a module file (.ko, .ko.xz, .ko.zst); nullopt when it is unsigned.
std::optional<SignerId> read_module_signer(const std::filesystem::path& file);

}  // namespace ckms::kmod
