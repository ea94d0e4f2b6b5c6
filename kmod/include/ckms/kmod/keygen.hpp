#pragma once
// A module signing key and self-signed certificate like the kernel's certs/x509.genkey
// makes: RSA, sha256, CA:FALSE, digitalSignature, subject and authority key identifiers,
// plus extendedKeyUsage codeSigning.

#include <filesystem>
#include <string>

namespace ckms::kmod {

struct KeygenOptions {
  std::string common_name = "ckms module signing key";
  std::string organization;  // left out of the subject when empty
  int days = 3650;
  // The Debian kernel verifies RSA module signatures only; 4096 is x509.genkey's default.
  int rsa_bits = 4096;
};

struct GeneratedKey {
  std::string subject;  // one line, e.g. "CN = ckms module signing key"
  std::string serial;   // upper-case hex
  std::string key_id;   // subject key identifier, upper-case hex
};

// Writes the private key (PKCS#8 PEM, unencrypted, mode 0600) and the certificate (PEM,
// mode 0644), each atomically: neither file exists half-written, and the key is never
// readable by others, not even while it is written. Usage error for bad options.
GeneratedKey generate_signing_key(const std::filesystem::path& key_file, const std::filesystem::path& cert_file,
                                  const KeygenOptions& options = {});

}  // namespace ckms::kmod
