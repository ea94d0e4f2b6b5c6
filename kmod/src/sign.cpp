#include "ckms/kmod/sign.hpp"

#include <openssl/err.h>

#include <array>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/kmod/compress.hpp"
#include "ckms/kmod/signature.hpp"
#include "openssl.hpp"

namespace ckms::kmod {

struct SigningKey::Impl {
  ossl::PKey key;
  ossl::X509Ptr cert;
};

SigningKey::SigningKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

SigningKey SigningKey::load(const std::filesystem::path& key_file, const std::filesystem::path& cert_file) {
  auto impl = std::make_unique<Impl>();
  impl->key = ossl::is_pkcs11_uri(key_file.string()) ? ossl::read_pkcs11_key(key_file.string())
                                                     : ossl::read_private_key(key_file);
  ossl::X509Stack certs = ossl::read_certificates(cert_file);
  impl->cert.reset(X509_dup(sk_X509_value(certs.get(), 0)));
  if (!impl->cert) fail(ErrorKind::internal, "cannot copy a certificate{}", ossl::errors());
  if (X509_check_private_key(impl->cert.get(), impl->key.get()) != 1) {
    fail(ErrorKind::usage, "{}: the private key does not belong to the certificate in {}{}", key_file.string(),
         cert_file.string(), ossl::errors());
  }
  return SigningKey(std::move(impl));
}

std::string SigningKey::subject() const { return ossl::name_text(X509_get_subject_name(impl_->cert.get())); }

std::string sign_module(std::string_view module, const SigningKey& key, const SignOptions& options,
                        std::string_view what) {
  if (detect_compression(module) != Compression::none) {
    fail(ErrorKind::usage, "{}: is compressed; modules are signed before compression", what);
  }
  if (split_signature(module, what)) {
    fail(ErrorKind::usage, "{}: is already signed; strip its signature to sign it again", what);
  }
  const EVP_MD* digest = EVP_get_digestbyname(options.hash.c_str());
  if (digest == nullptr) {
    fail(ErrorKind::usage, "{}: unknown hash algorithm {:?}", what, options.hash);
  }
  const auto failed = [&](std::string_view step) {
    fail(ErrorKind::internal, "{}: signing failed in {}{}", what, step, ossl::errors());
  };

  // The same calls, flags and order as scripts/sign-file.c, which is what makes the output
  // identical: a detached SignedData without certificates or signed attributes, identifying
  // the signer by issuer and serial (or by key identifier with -k).
  ossl::Cms cms(
      CMS_sign(nullptr, nullptr, nullptr, nullptr, CMS_NOCERTS | CMS_PARTIAL | CMS_BINARY | CMS_DETACHED | CMS_STREAM));
  if (!cms) failed("CMS_sign");
  const unsigned int signer_flags =
      CMS_NOCERTS | CMS_BINARY | CMS_NOSMIMECAP | CMS_NOATTR | (options.use_key_id ? CMS_USE_KEYID : 0U);
  if (CMS_add1_signer(cms.get(), key.impl_->cert.get(), key.impl_->key.get(), digest, signer_flags) == nullptr) {
    failed("CMS_add1_signer");
  }
  ossl::Bio content = ossl::memory_bio(module);
  if (CMS_final(cms.get(), content.get(), nullptr, CMS_NOCERTS | CMS_BINARY) != 1) {
    failed("CMS_final");
  }
  ossl::Bio der(BIO_new(BIO_s_mem()));
  if (!der || i2d_CMS_bio_stream(der.get(), cms.get(), nullptr, 0) != 1) {
    failed("i2d_CMS_bio_stream");
  }
  const std::string signature = ossl::bio_contents(der.get());

  const std::uint32_t sig_len = static_cast<std::uint32_t>(signature.size());
  std::array<char, kSignatureInfoSize> info{};
  info[2] = static_cast<char>(kPkeyIdPkcs7);
  info[8] = static_cast<char>(sig_len >> 24);
  info[9] = static_cast<char>(sig_len >> 16);
  info[10] = static_cast<char>(sig_len >> 8);
  info[11] = static_cast<char>(sig_len);

  std::string out;
  out.reserve(module.size() + signature.size() + info.size() + kSignatureMagic.size());
  out.append(module).append(signature).append(info.data(), info.size()).append(kSignatureMagic);
  return out;
}

void sign_module_file(const std::filesystem::path& file, const SigningKey& key, const SignOptions& options) {
  const std::string module = ckms::read_file(file, kDefaultDecompressLimit);
  const std::string signed_module = sign_module(module, key, options, file.string());
  ckms::AtomicFile out(file);
  out.write(signed_module);
  std::error_code ec;
  const auto perms = std::filesystem::status(file, ec).permissions();
  out.commit(std::nullopt, std::nullopt, ec ? 0644 : static_cast<mode_t>(perms & std::filesystem::perms::mask));
}

}  // namespace ckms::kmod
