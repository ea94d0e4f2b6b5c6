#include "ckms/kmod/verify.hpp"

#include <algorithm>

#include "ckms/oci/error.hpp"
#include "ckms/oci/io.hpp"
#include "openssl.hpp"

namespace ckms::kmod {

struct TrustedCertificates::Impl {
  ossl::X509Stack certs;
};

TrustedCertificates::TrustedCertificates(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrustedCertificates::TrustedCertificates(TrustedCertificates&&) noexcept = default;
TrustedCertificates& TrustedCertificates::operator=(TrustedCertificates&&) noexcept = default;
TrustedCertificates::~TrustedCertificates() = default;

namespace {

void add_file(STACK_OF(X509)* into, const std::filesystem::path& file) {
  ossl::X509Stack certs = ossl::read_certificates(file);
  while (X509* cert = sk_X509_shift(certs.get())) sk_X509_push(into, cert);
}

}  // namespace

TrustedCertificates TrustedCertificates::load(const std::vector<std::filesystem::path>& paths) {
  auto impl = std::make_unique<Impl>();
  impl->certs.reset(sk_X509_new_null());
  if (!impl->certs) fail(ErrorKind::internal, "cannot allocate a certificate list");
  for (const std::filesystem::path& path : paths) {
    if (!std::filesystem::is_directory(path)) {
      add_file(impl->certs.get(), path);
      continue;
    }
    // Sorted, so that the order (and any error) does not depend on the directory's order.
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.is_regular_file() && !entry.path().filename().string().starts_with(".")) {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) add_file(impl->certs.get(), file);
  }
  if (sk_X509_num(impl->certs.get()) == 0) {
    fail(ErrorKind::usage, "no trusted certificate given (looked in {} paths)", paths.size());
  }
  return TrustedCertificates(std::move(impl));
}

std::size_t TrustedCertificates::size() const {
  return static_cast<std::size_t>(sk_X509_num(impl_->certs.get()));
}

std::vector<std::string> TrustedCertificates::subjects() const {
  std::vector<std::string> out;
  for (int i = 0; i < sk_X509_num(impl_->certs.get()); ++i) {
    out.push_back(ossl::name_text(X509_get_subject_name(sk_X509_value(impl_->certs.get(), i))));
  }
  return out;
}

Verified verify_module(std::string_view module, const TrustedCertificates& trusted,
                       std::string_view what, std::uint64_t limit) {
  const std::string bytes = decompress_auto(std::string(module), limit, what);
  const auto signature = split_signature(bytes, what);
  if (!signature) fail(ErrorKind::refused, "{}: refused: the module is not signed", what);

  Verified result{read_signer(signature->cms_der, what), {}};
  ossl::Bio der = ossl::memory_bio(signature->cms_der);
  ossl::Cms cms(d2i_CMS_bio(der.get(), nullptr));
  if (!cms) {
    fail(ErrorKind::integrity, "{}: malformed module signature{}", what, ossl::errors());
  }
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0);

  // Match the signer to a trusted certificate the way the kernel's PKCS#7 code does: by
  // issuer and serial number, or by subject key identifier.
  X509* match = nullptr;
  STACK_OF(X509)* certs = trusted.impl_->certs.get();
  for (int i = 0; i < sk_X509_num(certs) && match == nullptr; ++i) {
    if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0) match = sk_X509_value(certs, i);
  }
  if (match == nullptr) {
    fail(ErrorKind::refused,
         "{}: refused: signed by \"{}\" (serial {}{}), which is none of the {} trusted "
         "certificates",
         what, result.signer.issuer, result.signer.serial.empty() ? "-" : result.signer.serial,
         result.signer.key_id.empty() ? "" : ", key id " + result.signer.key_id, trusted.size());
  }
  result.certificate_subject = ossl::name_text(X509_get_subject_name(match));

  ossl::X509Stack signer_certs(sk_X509_new_null());
  if (!signer_certs || sk_X509_push(signer_certs.get(), X509_dup(match)) != 1) {
    fail(ErrorKind::internal, "{}: cannot allocate a certificate list", what);
  }
  ossl::Bio content = ossl::memory_bio(signature->content);
  // The certificate is trusted because it is listed, as in the kernel's keyring: no chain,
  // purpose or date checks, and only the listed certificate may act as signer.
  const unsigned int flags = CMS_BINARY | CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY;
  if (CMS_verify(cms.get(), signer_certs.get(), nullptr, content.get(), nullptr, flags) != 1) {
    fail(ErrorKind::integrity,
         "{}: the signature by \"{}\" does not match the module's content: the module or its "
         "signature was altered{}",
         what, result.certificate_subject, ossl::errors());
  }
  return result;
}

Verified verify_module_file(const std::filesystem::path& file, const TrustedCertificates& trusted,
                            std::uint64_t limit) {
  return verify_module(oci::read_file(file, limit), trusted, file.string(), limit);
}

}  // namespace ckms::kmod
