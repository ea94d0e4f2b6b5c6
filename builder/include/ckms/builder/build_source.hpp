#pragma once
// Where a build takes the module source from: a directory holding dkms.conf, or a source
// artifact (docs/artifacts.md) named like any reference, oci:DIR:TAG or HOST/REPO:TAG.

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "ckms/builder/build.hpp"

namespace ckms::builder {

// Whether `text` names a source artifact rather than a directory: "oci:..." or a first
// component that is a registry host (holds '.' or ':', or is "localhost"). A directory
// that exists wins over this (place_source).
bool looks_like_reference(std::string_view text);

// Sets options.source_dir (and source_digest for an artifact): `source` as a directory
// when it is one, else fetched from the artifact into <work_dir>/source. `on_fetch` is
// told the reference before the download starts.
void place_source(std::string_view source, const std::filesystem::path& work_dir, BuildOptions& options,
                  const std::function<void(const oci::Reference&)>& on_fetch = {});

}  // namespace ckms::builder
