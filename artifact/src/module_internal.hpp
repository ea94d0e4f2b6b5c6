#pragma once
// Shared by publishing, indexing and resolving module artifacts.

#include <optional>
#include <string_view>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/manifest.hpp"

namespace ckms::artifact::detail {

// The descriptor a tag names, or nothing when the target has no such tag.
std::optional<oci::Descriptor> try_resolve(oci::Target& target, std::string_view tag);

// Every check ModuleConfig::parse makes after reading the JSON; failures are of `kind`
// (integrity for a fetched blob, usage for a config about to be published).
void validate(const ModuleConfig& config, ErrorKind kind, std::string_view where);

// artifactType and config media type say "ckms module artifact".
bool is_module_manifest(const oci::ImageManifest& manifest);

// Fetches the manifest that `descriptor` names and its config; refuses (integrity) a
// manifest that is not a module artifact or whose layers do not match the config: every
// file exactly one layer of its digest, size and title, and no other layer.
ResolvedModule load_module(oci::Target& target, const oci::Descriptor& descriptor, std::string_view where);
// The same for a manifest already fetched and parsed from `descriptor`.
ResolvedModule load_module(oci::Target& target, const oci::Descriptor& descriptor, oci::ImageManifest manifest,
                           std::string_view where);

}  // namespace ckms::artifact::detail
