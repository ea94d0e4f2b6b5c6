// Default parameters signed with the module signing key (docs/artifacts.md, "Default
// parameters"). The signature is the kernel's module signature format (kmod::sign_module)
// over default_parameters_document(), so the node checks it with the code and the trusted
// certificates that check the modules themselves.

#include <nlohmann/json.hpp>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/auth_credentials.hpp"

namespace ckms::artifact {

namespace {
constexpr std::string_view kParametersDocumentType = "application/vnd.ckms.kmod.parameters.v1+json";
}  // namespace

std::string default_parameters_document(const ModuleConfig& config) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& file : config.files) files.push_back({{"file", file.file_name}, {"digest", file.digest.str()}});
  const nlohmann::json document{
      {"mediaType", kParametersDocumentType},          {"name", config.name}, {"version", config.version},
      {"kernelRelease", config.kernel_release},        {"arch", config.arch}, {"files", files},
      {"defaultParameters", config.default_parameters}};
  // Sorted keys and no spaces: the builder and every node produce the same bytes.
  return document.dump();
}

void sign_default_parameters(ModuleConfig& config, const std::filesystem::path& files_dir, const kmod::SigningKey& key,
                             const kmod::SignOptions& options) {
  config.default_parameters_signature.clear();
  if (config.default_parameters.empty()) return;
  for (auto& file : config.files) {
    const auto path = files_dir / file.file_name;
    file.digest = ckms::digest_of_file(path);
    file.size = static_cast<std::int64_t>(std::filesystem::file_size(path));
  }
  const std::string document = default_parameters_document(config);
  const std::string what = fmt::format("default parameters of {} {}", config.name, config.version);
  const std::string signed_document = kmod::sign_module(document, key, options, what);
  config.default_parameters_signature = oci::base64_encode(std::string_view(signed_document).substr(document.size()));
}

std::optional<kmod::Verified> verify_default_parameters(const ModuleConfig& config,
                                                        const kmod::TrustedCertificates& trusted,
                                                        std::string_view where) {
  if (config.default_parameters.empty()) return std::nullopt;
  const std::string what = fmt::format("{}: the default parameters", where);
  if (config.default_parameters_signature.empty()) {
    fail(ErrorKind::refused,
         "{} are not signed, so the registry alone vouches for them; refused (rebuild with a signing key, "
         "or give the parameters with --param)",
         what);
  }
  const auto signature = oci::base64_decode(config.default_parameters_signature);
  if (!signature) fail(ErrorKind::integrity, "{}: the signature is not base64", what);
  return kmod::verify_module(default_parameters_document(config) + *signature, trusted, what);
}

}  // namespace ckms::artifact
