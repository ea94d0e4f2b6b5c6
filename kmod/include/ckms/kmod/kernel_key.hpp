#pragma once
// A certificate as the kernel's keyrings see it. The kernel names an X.509 key (as
// crypto/asymmetric_keys/x509_cert_parser.c and x509_public_key.c do) "<name>: <id>", which
// is what /proc/keys and `keyctl show` print:
//   name  the subject's CN, or "O: CN" when the CN does not start with the O (nor with its
//         first 7 characters), else the O, else the e-mail address (the last of each kind)
//   id    the subjectKeyIdentifier in lower-case hex, or the raw serial number when the
//         certificate has none
// so that a certificate file can be matched with a key the kernel holds, and a module's
// signer with the certificate that made it.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/kmod/signature.hpp"

namespace ckms::kmod {

struct KernelKeyIdentity {
  std::string der;                 // the certificate, DER (what `mokutil --import` takes)
  std::string subject;             // one line, as `openssl x509 -subject` prints it
  std::string issuer;              // one line
  std::string serial;              // upper-case hex, as SignerId::serial
  std::string subject_key_id;      // upper-case hex, as SignerId::key_id; empty without one
  std::string kernel_name;         // the kernel's name for the subject (above)
  std::string key_id;              // the kernel's id (above), lower-case hex
  std::string sha1_fingerprint;    // upper-case hex with colons, as mokutil lists keys
  std::string sha256_fingerprint;  // upper-case hex with colons
  std::string not_after;           // e.g. "Dec  5 23:40:01 2036 GMT"

  // "<kernel_name>: <key_id>", the key's description in /proc/keys.
  std::string description() const { return kernel_name + ": " + key_id; }
};

// The certificate(s) in a file (PEM with one or more certificates, or DER). Usage error
// naming the file when it holds none.
std::vector<KernelKeyIdentity> read_kernel_key_identities(const std::filesystem::path& file);

// One certificate's DER; usage error naming `what` when it is not one.
KernelKeyIdentity kernel_key_identity(std::string_view der, std::string_view what);

// Whether `signer` (a module signature's signer) names this certificate, as the kernel's
// PKCS#7 code matches them: by issuer and serial, or by subject key identifier.
bool signed_by(const SignerId& signer, const KernelKeyIdentity& certificate);

}  // namespace ckms::kmod
