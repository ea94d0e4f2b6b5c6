#pragma once
// The build cache key (shared/DESIGN.md "Builder", "Cache"): one digest over everything that
// decides the bytes of a published module artifact. It is recorded on the artifact's
// manifest (io.ckms.build.cache-key), so a builder that finds the same key on the
// `<version>-<release>` tag knows the artifact already is what it would build, and skips
// the build, whether the earlier build ran on this machine or elsewhere.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/digest.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::builder {

struct CacheInputs {
  ckms::Digest source;     // the source artifact layer digest (artifact::pack_source)
  ckms::Digest dkms_conf;  // the dkms.conf bytes
  // The build image manifest; absent for `--runtime none` without a named image, where
  // the root filesystem ckms runs in is the build environment and cannot be identified.
  std::optional<ckms::Digest> build_image;
  std::string kernel_release;
  std::string arch;
  // The signing certificate: the signature bytes depend on the key only, and the key must
  // belong to this certificate, so the certificate identifies it without the key's bytes
  // ever entering a published annotation. Absent: unsigned.
  std::optional<ckms::Digest> signing_certificate;
  std::string sign_hash;                        // sign-file's hash algorithm
  bool sign_key_id = false;                     // sign-file -k
  std::string compression;                      // none, xz, zstd
  std::vector<std::string> default_parameters;  // "[MODULE.]NAME=VALUE", as given
  std::vector<std::string> build_depends;       // "NAME VERSION MANIFEST-DIGEST" of each dependency
  std::vector<std::string> conf_overrides;      // digest of each --conf-override text, in order
  std::string ckms_version;

  nlohmann::json to_json() const;
};

// "sha256:<hex>" of the canonical JSON of the inputs, prefixed with a format version so
// that a change in what the key covers never matches keys made before it.
std::string cache_key(const CacheInputs& inputs);

// What `target` publishes for `version` and `release` (its cache key among it), if it has
// a valid module artifact there; nullopt when there is none (or it is unreadable, which
// means it has to be rebuilt anyway).
std::optional<artifact::ResolvedModule> published_module(oci::Target& target, const std::string& version,
                                                         const std::string& release);

}  // namespace ckms::builder
