#pragma once
// Checking a module's appended signature against certificates the operator trusts, as the
// kernel's module_sig_check does against its keyring: the detached CMS must verify over the
// bytes before it, and its signer (issuer + serial, or subject key identifier) must be one
// of the trusted certificates. Certificate validity dates and chains are ignored, as in the
// kernel: a certificate is trusted because it is listed, not because of who issued it.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/kmod/compress.hpp"
#include "ckms/kmod/signature.hpp"

namespace ckms::kmod {

struct Verified {
  SignerId signer;
  std::string certificate_subject;  // the trusted certificate that matched
  std::string certificate_der;      // and its DER, to find the key among the kernel's
};

// The files `paths` name: each file itself, and a directory's regular, non-hidden files in
// sorted order (so that the order, and any error, does not depend on the directory's order).
std::vector<std::filesystem::path> certificate_files(const std::vector<std::filesystem::path>& paths);

class TrustedCertificates {
 public:
  // Each path is a PEM file (one or more certificates), a DER file, or a directory whose
  // regular, non-hidden files are all such files. Usage error naming the offending file
  // when one holds no certificate; an empty result is a usage error too.
  static TrustedCertificates load(const std::vector<std::filesystem::path>& paths);

  TrustedCertificates(TrustedCertificates&&) noexcept;
  TrustedCertificates& operator=(TrustedCertificates&&) noexcept;
  ~TrustedCertificates();

  std::size_t size() const;
  // One-line subjects, in load order.
  std::vector<std::string> subjects() const;

 private:
  struct Impl;
  explicit TrustedCertificates(std::unique_ptr<Impl> impl);
  friend Verified verify_module(std::string_view, const TrustedCertificates&, std::string_view, std::uint64_t);
  std::unique_ptr<Impl> impl_;
};

// Verifies `module` (xz/zstd input is decompressed first, at most `limit` bytes). Errors
// name `what` and say which check failed:
//   refused:   the module is unsigned; its signer is not a trusted certificate
//   integrity: the signature is malformed (bad trailer, not CMS); the content or signature
//              was altered, so the signature does not verify
Verified verify_module(std::string_view module, const TrustedCertificates& trusted, std::string_view what,
                       std::uint64_t limit = kDefaultDecompressLimit);

Verified verify_module_file(const std::filesystem::path& file, const TrustedCertificates& trusted,
                            std::uint64_t limit = kDefaultDecompressLimit);

}  // namespace ckms::kmod
