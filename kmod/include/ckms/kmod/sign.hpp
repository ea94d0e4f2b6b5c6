#pragma once
// Signing a module exactly as the kernel's scripts/sign-file does, byte for byte, so that a
// module signed by ckms and one signed by kbuild with the same key cannot be told apart.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace ckms::kmod {

struct SignOptions {
  std::string hash = "sha256";  // sign-file's first argument; the Debian kernel uses sha256
  bool use_key_id = false;      // sign-file -k: identify the signer by subject key identifier
};

class SigningKey;

// Returns `module` with its appended signature. The module must be uncompressed (the kernel
// signs before compressing) and unsigned: signing a signed module is refused with a usage
// error, never stacked; strip_signature() first to re-sign on purpose. `what` names the
// module in errors.
std::string sign_module(std::string_view module, const SigningKey& key, const SignOptions& options,
                        std::string_view what);

// Signs `file` in place (atomically), like `sign-file HASH KEY CERT FILE`.
void sign_module_file(const std::filesystem::path& file, const SigningKey& key, const SignOptions& options = {});

// A private key with its X.509 certificate, both held in memory for repeated signing.
class SigningKey {
 public:
  // Each file is PEM or DER (sign-file also accepts both); the key must be unencrypted, or
  // a PKCS#11 URI ("pkcs11:token=...;object=...") as sign-file takes it, with the PIN from
  // KBUILD_SIGN_PIN or the URI's pin-value.
  // Fails with a usage error naming the file when it cannot be read, or when the key does
  // not belong to the certificate.
  static SigningKey load(const std::filesystem::path& key_file, const std::filesystem::path& cert_file);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  // The certificate's subject, one line, e.g. "CN = ckms module signing key".
  std::string subject() const;

 private:
  struct Impl;
  explicit SigningKey(std::unique_ptr<Impl> impl);
  friend std::string sign_module(std::string_view, const SigningKey&, const SignOptions&, std::string_view);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ckms::kmod
