#pragma once
// The module artifact and module index of docs/artifacts.md (shared/DESIGN.md "Formats"):
// what `ckms build` publishes and `ckms load` resolves. One manifest per module version per
// kernel release, tagged `<version>-<release>`; an index tagged `<version>` that is always
// rebuilt from those per-kernel tags, because a registry has no compare-and-swap.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/base/digest.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/kmod/verify.hpp"
#include "ckms/oci/descriptor.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::artifact {

inline constexpr std::string_view kModuleArtifactType = "application/vnd.ckms.kmod.v1";
inline constexpr std::string_view kModuleConfigMediaType = "application/vnd.ckms.kmod.config.v1+json";
inline constexpr std::string_view kModuleLayerMediaType = "application/vnd.ckms.kmod.layer.v1";
inline constexpr std::string_view kKernelReleaseAnnotation = "io.ckms.kernel.release";
// On the manifest: the build cache key, so a builder can tell that a published artifact
// already is what it would build.
inline constexpr std::string_view kCacheKeyAnnotation = "io.ckms.build.cache-key";
// The build's Module.symvers (kbuild's table of the symbols the modules export, with their
// CRCs): a layer of its own, so that a package built later against this one (its
// BUILD_DEPENDS) gets the symbols through KBUILD_EXTRA_SYMBOLS. Never inserted.
inline constexpr std::string_view kSymversLayerMediaType = "application/vnd.ckms.kmod.symvers.v1";
inline constexpr std::string_view kSymversFileName = "Module.symvers";

// One module file as the artifact carries it: the bytes exactly as inserted.
struct ModuleFile {
  std::string file_name;    // "hello.ko", "hello.ko.xz": the layer's image title
  std::string module_name;  // modinfo name, what /sys/module shows
  std::string vermagic;
  std::string srcversion;
  std::vector<std::string> depends;  // modinfo depends=, in-tree or of this artifact
  std::string signer;                // signing certificate subject; empty when unsigned
  std::string install_location;      // DKMS's install location, e.g. "/updates/dkms"
  // Of the file bytes (the layer digest). Until publish_module fills it in, the digest of
  // no bytes, matching size 0: ckms::Digest has no empty value, and a file that is still to
  // be published must be constructible.
  ckms::Digest digest = ckms::digest_of("");
  std::int64_t size = 0;
};

// Another package's artifact this one was built against (dkms.conf's BUILD_DEPENDS, or
// `ckms build --depends`): its modules must be loaded first, and they must be that very
// build, since the symbol CRCs compiled into this one are its.
struct BuildDependency {
  std::string name;                             // its PACKAGE_NAME
  std::string version;                          // its PACKAGE_VERSION: the tag it is loaded by
  std::string repository;                       // its registry repository ("ckms/base"); empty for a layout
  ckms::Digest manifest = ckms::digest_of("");  // its artifact for this kernel
};

// The Module.symvers layer, when the artifact carries one.
struct SymversFile {
  ckms::Digest digest = ckms::digest_of("");
  std::int64_t size = 0;
};

struct Provenance {
  std::optional<ckms::Digest> source;       // the source artifact layer digest
  std::optional<ckms::Digest> build_image;  // the kernel build image manifest digest
  std::string ckms_version;
  std::string created;  // RFC 3339 UTC; SOURCE_DATE_EPOCH when set
};

// The config blob (application/vnd.ckms.kmod.config.v1+json).
struct ModuleConfig {
  std::string name;     // PACKAGE_NAME
  std::string version;  // PACKAGE_VERSION
  std::string kernel_release;
  std::string arch = "x86_64";    // uname -m of the kernel
  std::vector<ModuleFile> files;  // in load order: dependencies first
  // Parameters applied when a loader is given none: module name -> name -> value.
  std::map<std::string, std::map<std::string, std::string>> default_parameters;
  // Base64 of a module-style signature (PKCS#7 + trailer, as sign-file appends) over
  // default_parameters_document(): who controls the registry cannot change the defaults a
  // node applies without the signing key. Empty when there are no defaults, or no key.
  std::string default_parameters_signature;
  std::optional<SymversFile> symvers;
  std::vector<BuildDependency> build_depends;  // in the order they load
  Provenance provenance;

  // Validates every field a loader relies on (names that are plain file names, digests,
  // sizes); `where` names the blob in errors.
  static ModuleConfig parse(std::string_view bytes, std::string_view where);
  std::string serialize() const;  // deterministic
};

// What signs the default parameters: one line of canonical JSON binding them to this
// artifact (package, version, kernel, arch, and each file by name and digest), with a media
// type of its own so that it can never pass for a module or be mistaken for another document.
std::string default_parameters_document(const ModuleConfig& config);

// Signs config.default_parameters (when there are any) with `key`, the key that signed the
// modules, over the files in `files_dir`: sets config.default_parameters_signature and the
// files' digests and sizes.
void sign_default_parameters(ModuleConfig& config, const std::filesystem::path& files_dir, const kmod::SigningKey& key,
                             const kmod::SignOptions& options);

// The trusted certificate that signed the config's default parameters, or nullopt when it
// has none. Defaults without a signature, or whose signature does not verify against
// `trusted`, are refused: a node applies no parameter that only the registry vouches for.
std::optional<kmod::Verified> verify_default_parameters(const ModuleConfig& config,
                                                        const kmod::TrustedCertificates& trusted,
                                                        std::string_view where);

// The OCI platform architecture for a kernel arch (x86_64 -> amd64, aarch64 -> arm64).
std::string oci_architecture(std::string_view kernel_arch);

// "<version>-<release>" made tag-legal (oci::sanitize_tag: '+' and other characters a tag
// cannot hold become '_'). Longer than a tag's 128 characters, it is cut to 111 and ends in
// '-' and 16 hex digits of sha256 of the whole text, so long releases never share a tag.
std::string kernel_tag(std::string_view version, std::string_view kernel_release);

// A module built for one kernel, ready to publish: `config.files[i]` names a file in
// `files_dir`; digests and sizes in `config` are filled in by publish_module.
struct BuiltModuleSet {
  ModuleConfig config;
  std::filesystem::path files_dir;
  std::string cache_key;  // empty: none recorded
  // The build's Module.symvers, published as its own layer; empty: none.
  std::filesystem::path symvers_file;
};

struct PublishedModule {
  oci::Descriptor manifest;
  std::string tag;  // kernel_tag(version, release)
};

// Pushes every file as a layer, then the config and the manifest, and tags it
// `<version>-<release>`. Files are hashed as they stream; nothing is tagged unless all of
// it was stored.
PublishedModule publish_module(oci::Target& target, BuiltModuleSet built);

// Rebuilds the `<version>` index from every `<version>-<release>` tag of the target whose
// manifest is a module artifact of that version, and tags it. Safe to call by builders
// racing on one version: each result includes at least its own kernels, and the last
// writer's index, rebuilt from the tags, includes everyone's.
oci::Descriptor update_module_index(oci::Target& target, std::string_view version);

// The artifact published for one kernel, with its config parsed and checked against the
// manifest (every config file has exactly one layer of that digest and title).
struct ResolvedModule {
  oci::Descriptor manifest_descriptor;
  oci::ImageManifest manifest;
  ModuleConfig config;
  std::optional<std::string> cache_key;
};

// The artifact of `version` for `kernel_release`: the per-kernel tag, else the index's
// entry. Not found names the kernels that do have one.
ResolvedModule resolve_module(oci::Target& target, std::string_view version, std::string_view kernel_release);

// Writes the artifact's Module.symvers to `destination` (verified against its digest as it
// streams). Refused, naming the artifact, when it carries none.
void fetch_symvers(oci::Target& target, const ResolvedModule& module, const std::filesystem::path& destination);

// The artifact a digest pins (REPO@sha256:...) for `kernel_release`: the digest of a
// per-kernel manifest, or of a module index whose entry for the kernel is taken. What the
// target holds must hash to the digest (integrity error otherwise); not_found when it holds
// nothing of that digest or the index has no entry for the kernel; a manifest built for
// another kernel is refused.
ResolvedModule resolve_pinned_module(oci::Target& target, const ckms::Digest& digest, std::string_view kernel_release);

// Kernel releases that `version` has an artifact for, from the index (empty when none).
std::vector<std::string> published_kernels(oci::Target& target, std::string_view version);

}  // namespace ckms::artifact
