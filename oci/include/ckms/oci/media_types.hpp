#pragma once
// Media types of OCI image-spec v1.1 and Docker schema 2 (for images pulled from Docker-era
// registries). ckms's own artifact types are artifact's (module_artifact.hpp,
// source_artifact.hpp).

#include <string_view>

namespace ckms::oci::media_type {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciEmpty = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

// The OCI empty descriptor's content ("{}") and its digest.
inline constexpr std::string_view kEmptyJson = "{}";
inline constexpr std::string_view kEmptyJsonDigest =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

inline bool is_manifest(std::string_view type) { return type == kOciManifest || type == kDockerManifest; }
inline bool is_index(std::string_view type) { return type == kOciIndex || type == kDockerManifestList; }
inline bool is_manifest_or_index(std::string_view type) { return is_manifest(type) || is_index(type); }

}  // namespace ckms::oci::media_type

namespace ckms::oci::annotation {
inline constexpr std::string_view kTitle = "org.opencontainers.image.title";
inline constexpr std::string_view kRefName = "org.opencontainers.image.ref.name";
inline constexpr std::string_view kCreated = "org.opencontainers.image.created";
}  // namespace ckms::oci::annotation
