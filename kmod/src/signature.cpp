#include "ckms/kmod/signature.hpp"

#include <openssl/objects.h>

#include <cctype>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/kmod/compress.hpp"
#include "openssl.hpp"
#include "signature_cms.hpp"

namespace ckms::kmod {
namespace {

std::uint32_t read_be32(std::string_view bytes) {
  std::uint32_t value = 0;
  for (const char c : bytes) value = (value << 8) | static_cast<unsigned char>(c);
  return value;
}

// Value of the first commonName, else of the last entry: what kmod's modinfo prints.
std::string signer_name(const X509_NAME* name) {
  const int count = X509_NAME_entry_count(name);
  if (count <= 0) return {};
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) index = count - 1;
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<std::size_t>(ASN1_STRING_length(data)));
}

}  // namespace

std::optional<AppendedSignature> split_signature(std::string_view module, std::string_view what) {
  if (!module.ends_with(kSignatureMagic)) return std::nullopt;
  const std::string_view rest = module.substr(0, module.size() - kSignatureMagic.size());
  if (rest.size() < kSignatureInfoSize) {
    fail(ErrorKind::integrity, "{}: malformed module signature: no room for its trailer", what);
  }
  const std::string_view info = rest.substr(rest.size() - kSignatureInfoSize);
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(info[i]); };
  if (byte(2) != kPkeyIdPkcs7) {
    fail(ErrorKind::integrity, "{}: malformed module signature: id_type {} is not PKCS#7 ({})", what, byte(2),
         kPkeyIdPkcs7);
  }
  // The kernel (mod_check_sig) rejects PKCS#7 signatures that set these.
  if (byte(0) != 0 || byte(1) != 0 || byte(3) != 0 || byte(4) != 0) {
    fail(ErrorKind::integrity,
         "{}: malformed module signature: algo, hash, signer_len and key_id_len must be 0 for "
         "PKCS#7",
         what);
  }
  const std::uint32_t sig_len = read_be32(info.substr(8, 4));
  const std::size_t available = rest.size() - kSignatureInfoSize;
  if (sig_len == 0 || sig_len > available) {
    fail(ErrorKind::integrity, "{}: malformed module signature: sig_len {} does not fit the {} bytes before it", what,
         sig_len, available);
  }
  return AppendedSignature{rest.substr(0, available - sig_len), rest.substr(available - sig_len, sig_len)};
}

std::string_view strip_signature(std::string_view module, std::string_view what) {
  const auto signature = split_signature(module, what);
  return signature ? signature->content : module;
}

ossl::Cms parse_signature_cms(std::string_view cms_der, std::string_view what) {
  ossl::Bio bio = ossl::memory_bio(cms_der);
  ossl::Cms cms(d2i_CMS_bio(bio.get(), nullptr));
  if (!cms) {
    fail(ErrorKind::integrity, "{}: malformed module signature: not a CMS message{}", what, ossl::errors());
  }
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
    fail(ErrorKind::integrity, "{}: malformed module signature: not a SignedData", what);
  }
  STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(cms.get());
  if (sk_CMS_SignerInfo_num(signers) != 1) {
    fail(ErrorKind::integrity, "{}: malformed module signature: {} signers, expected one", what,
         sk_CMS_SignerInfo_num(signers));
  }
  return cms;
}

SignerId read_signer(std::string_view cms_der, std::string_view what) {
  const ossl::Cms cms = parse_signature_cms(cms_der, what);
  return signer_of(cms.get(), what);
}

SignerId signer_of(CMS_ContentInfo* cms, std::string_view what) {
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
  ASN1_OCTET_STRING* key_id = nullptr;
  X509_NAME* issuer = nullptr;
  ASN1_INTEGER* serial = nullptr;
  if (CMS_SignerInfo_get0_signer_id(si, &key_id, &issuer, &serial) != 1) {
    fail(ErrorKind::integrity, "{}: malformed module signature: no signer identifier{}", what, ossl::errors());
  }
  X509_ALGOR* digest = nullptr;
  CMS_SignerInfo_get0_algs(si, nullptr, nullptr, &digest, nullptr);
  const ASN1_OBJECT* digest_oid = nullptr;
  X509_ALGOR_get0(&digest_oid, nullptr, nullptr, digest);
  const int digest_nid = OBJ_obj2nid(digest_oid);

  SignerId id;
  if (issuer != nullptr) {
    id.issuer = ossl::name_text(issuer);
    id.signer_name = signer_name(issuer);
  }
  if (serial != nullptr) id.serial = ossl::serial_hex(serial);
  if (key_id != nullptr) {
    id.key_id = ossl::hex(ASN1_STRING_get0_data(key_id), static_cast<std::size_t>(ASN1_STRING_length(key_id)));
  }
  if (digest_nid == NID_undef) {
    fail(ErrorKind::integrity, "{}: malformed module signature: unknown digest algorithm", what);
  }
  // Lower-case short names ("sha256", "sha3-256") are what sign-file takes and kmod prints.
  for (const char* c = OBJ_nid2sn(digest_nid); *c != '\0'; ++c) {
    id.digest += static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
  }
  return id;
}

std::optional<SignerId> read_module_signer(const std::filesystem::path& file) {
  const std::string what = file.string();
  const std::string module =
      decompress_auto(ckms::read_file(file, kDefaultDecompressLimit), kDefaultDecompressLimit, what);
  const auto signature = split_signature(module, what);
  if (!signature) return std::nullopt;
  return read_signer(signature->cms_der, what);
}

}  // namespace ckms::kmod
