#pragma once
// The source artifact (DKMS's mktarball as an OCI artifact): artifactType
// application/vnd.ckms.source.v1, one deterministic tar+gzip layer of the source tree with
// its dkms.conf at the top. The layer digest identifies the source in build cache keys,
// whether the build started from a directory or from the artifact.

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "ckms/base/digest.hpp"
#include "ckms/oci/descriptor.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::artifact {

inline constexpr std::string_view kSourceArtifactType = "application/vnd.ckms.source.v1";

struct PackedSource {
  std::filesystem::path layer_file;  // the tar+gzip layer
  ckms::Digest digest;               // layer digest: the source's identity
  std::int64_t size = 0;
};

// Packs `source_dir` (must contain dkms.conf) into `work_dir`, reproducibly: the same tree
// gives the same digest.
PackedSource pack_source(const std::filesystem::path& source_dir, const std::filesystem::path& work_dir);

// Pushes a packed source as a source artifact and tags its manifest with `tag`. Returns the
// manifest descriptor; the same tree gives the same manifest digest.
oci::Descriptor push_packed_source(oci::Target& target, const PackedSource& packed, std::string_view tag);

// Packs and pushes; tags the manifest with `tag`. Returns the manifest descriptor.
oci::Descriptor push_source(oci::Target& target, const std::filesystem::path& source_dir, std::string_view tag,
                            const std::filesystem::path& work_dir);

struct FetchedSource {
  oci::Descriptor manifest;
  ckms::Digest layer_digest;
};

// Fetches the source artifact that `tag_or_digest` names and unpacks it safely into
// `dest` (which must be empty or absent). Refuses anything that is not a source artifact.
FetchedSource fetch_source(oci::Target& target, std::string_view tag_or_digest, const std::filesystem::path& dest);

}  // namespace ckms::artifact
