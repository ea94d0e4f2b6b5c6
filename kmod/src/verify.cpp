#include "ckms/kmod/verify.hpp"

#include <algorithm>
#include <optional>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "direct_signature.hpp"
#include "openssl.hpp"
#include "signature_cms.hpp"

namespace ckms::kmod {

// A trusted certificate is kept as its DER and the fields the direct check needs; OpenSSL's
// X509 object, whose decoding starts the provider machinery, is made only when CMS_verify
// has to decide (direct_signature.hpp).
class TrustedCertificate {
 public:
  TrustedCertificate(std::string der, std::filesystem::path file)
      : der_(std::move(der)), file_(std::move(file)), fields_(direct::read_fields(der_)) {
    if (!fields_) x509();  // fails naming the file when OpenSSL cannot read it either
  }

  const std::optional<direct::CertificateFields>& fields() const { return fields_; }
  const std::string& der() const { return der_; }

  X509* x509() const {
    if (!x509_) x509_ = ossl::parse_certificate(der_, file_);
    return x509_.get();
  }

  std::string subject() const {
    if (!fields_) return ossl::name_text(X509_get_subject_name(x509()));
    const auto* p = reinterpret_cast<const unsigned char*>(fields_->subject.data());
    std::unique_ptr<X509_NAME, ossl::Deleter<X509_NAME_free>> name(
        d2i_X509_NAME(nullptr, &p, static_cast<long>(fields_->subject.size())));
    if (!name)
      fail(ErrorKind::usage, "{}: the certificate's subject is not a readable name{}", file_.string(), ossl::errors());
    return ossl::name_text(name.get());
  }

 private:
  std::string der_;
  std::filesystem::path file_;
  std::optional<direct::CertificateFields> fields_;
  mutable ossl::X509Ptr x509_;
};

struct TrustedCertificates::Impl {
  std::vector<TrustedCertificate> certificates;
};

TrustedCertificates::TrustedCertificates(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrustedCertificates::TrustedCertificates(TrustedCertificates&&) noexcept = default;
TrustedCertificates& TrustedCertificates::operator=(TrustedCertificates&&) noexcept = default;
TrustedCertificates::~TrustedCertificates() = default;

namespace {

void add_file(std::vector<TrustedCertificate>& into, const std::filesystem::path& file) {
  for (std::string& der : ossl::read_certificate_ders(file)) into.emplace_back(std::move(der), file);
}

}  // namespace

std::vector<std::filesystem::path> certificate_files(const std::vector<std::filesystem::path>& paths) {
  std::vector<std::filesystem::path> out;
  for (const std::filesystem::path& path : paths) {
    if (!std::filesystem::is_directory(path)) {
      out.push_back(path);
      continue;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.is_regular_file() && !entry.path().filename().string().starts_with(".")) {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    out.insert(out.end(), files.begin(), files.end());
  }
  return out;
}

TrustedCertificates TrustedCertificates::load(const std::vector<std::filesystem::path>& paths) {
  auto impl = std::make_unique<Impl>();
  for (const auto& file : certificate_files(paths)) add_file(impl->certificates, file);
  if (impl->certificates.empty()) {
    fail(ErrorKind::usage, "no trusted certificate given (looked in {} paths)", paths.size());
  }
  return TrustedCertificates(std::move(impl));
}

std::size_t TrustedCertificates::size() const { return impl_->certificates.size(); }

std::vector<std::string> TrustedCertificates::subjects() const {
  std::vector<std::string> out;
  for (const auto& certificate : impl_->certificates) out.push_back(certificate.subject());
  return out;
}

Verified verify_module(std::string_view module, const TrustedCertificates& trusted, std::string_view what,
                       std::uint64_t limit) {
  const std::string bytes = decompress_auto(std::string(module), limit, what);
  const auto signature = split_signature(bytes, what);
  if (!signature) fail(ErrorKind::refused, "{}: refused: the module is not signed", what);

  const ossl::Cms cms = parse_signature_cms(signature->cms_der, what);
  Verified result{signer_of(cms.get(), what), {}};
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0);

  // CMS_verify would check the module against the content the signature carries, while
  // the kernel refuses any such signature outright (pkcs7_supply_detached_data).
  ASN1_OCTET_STRING** carried = CMS_get0_content(cms.get());
  if (carried != nullptr && *carried != nullptr) {
    fail(ErrorKind::integrity,
         "{}: malformed module signature: it carries content of its own, which the kernel refuses", what);
  }
  // The kernel rejects a module signature over any other type (pkcs7_verify, "not
  // pkcs7-data"), even when it does not enforce signatures.
  if (OBJ_obj2nid(CMS_get0_eContentType(cms.get())) != NID_pkcs7_data) {
    fail(ErrorKind::integrity,
         "{}: malformed module signature: it signs content of a type other than data, which the kernel refuses", what);
  }
  const auto& certificates = trusted.impl_->certificates;
  for (const auto& certificate : certificates) {
    if (certificate.fields() && direct::verifies(si, signature->content, *certificate.fields())) {
      result.certificate_subject = certificate.subject();
      result.certificate_der = certificate.der();
      return result;
    }
  }

  // Match the signer to a trusted certificate the way the kernel's PKCS#7 code does: by
  // issuer and serial number, or by subject key identifier.
  X509* match = nullptr;
  for (const auto& certificate : certificates) {
    if (CMS_SignerInfo_cert_cmp(si, certificate.x509()) == 0) {
      match = certificate.x509();
      result.certificate_subject = certificate.subject();
      result.certificate_der = certificate.der();
      break;
    }
  }
  if (match == nullptr) {
    fail(ErrorKind::refused,
         "{}: refused: signed by \"{}\" (serial {}{}), which is none of the {} trusted "
         "certificates",
         what, result.signer.issuer, result.signer.serial.empty() ? "-" : result.signer.serial,
         result.signer.key_id.empty() ? "" : ", key id " + result.signer.key_id, trusted.size());
  }

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
  return verify_module(ckms::read_file(file, limit), trusted, file.string(), limit);
}

}  // namespace ckms::kmod
