#include "ckms/builder/build_cache.hpp"

#include "ckms/base/error.hpp"

namespace ckms::builder {
namespace {

// Bumped whenever the set or meaning of the inputs changes. 3: default parameters are
// signed, so an artifact published with unsigned ones must be built again, not reused.
// 4: artifacts carry Module.symvers and their build dependencies; dkms.conf overrides.
constexpr int kKeyFormat = 4;

nlohmann::json optional_digest(const std::optional<ckms::Digest>& digest) {
  return digest ? nlohmann::json(digest->str()) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json CacheInputs::to_json() const {
  return {{"format", kKeyFormat},
          {"source", source.str()},
          {"dkmsConf", dkms_conf.str()},
          {"buildImage", optional_digest(build_image)},
          {"kernelRelease", kernel_release},
          {"arch", arch},
          {"signingCertificate", optional_digest(signing_certificate)},
          {"signHash", signing_certificate ? sign_hash : ""},
          {"signKeyId", signing_certificate && sign_key_id},
          {"compression", compression},
          {"defaultParameters", default_parameters},
          {"buildDepends", build_depends},
          {"confOverrides", conf_overrides},
          {"ckmsVersion", ckms_version}};
}

std::string cache_key(const CacheInputs& inputs) {
  // nlohmann::json objects keep keys sorted, so dump() is canonical.
  return ckms::digest_of(inputs.to_json().dump()).str();
}

std::optional<artifact::ResolvedModule> published_module(oci::Target& target, const std::string& version,
                                                         const std::string& release) {
  try {
    return artifact::resolve_module(target, version, release);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found || e.kind() == ErrorKind::integrity) return std::nullopt;
    throw;
  }
}

}  // namespace ckms::builder
