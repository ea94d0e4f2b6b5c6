#pragma once
// `ckms kernels`: for each kernel a distribution's archive offers, whether a repository
// already holds the module artifact of a version for it (the per-kernel tag
// artifact::kernel_tag names, the tag `ckms build` publishes) and whether its kernel build
// image exists (images::image_reference, the reference `ckms build` pulls). What is not
// published yet is what a CI job still has to build, before any node boots that kernel.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/builder/build.hpp"
#include "ckms/images/archive_kernels.hpp"
#include "ckms/oci/reference.hpp"

namespace ckms::builder {

struct ArchiveStatusQuery {
  std::vector<images::ArchiveKernel> kernels;
  std::optional<oci::Reference> repository;  // with `version`: which kernels are published
  std::string version;
  std::optional<std::string> image_template;  // which kernels have a build image
  TargetOpener open_target;
};

struct KernelArchiveStatus {
  images::ArchiveKernel kernel;
  std::string artifact_tag;         // with a repository: the tag looked for
  std::optional<bool> published;    // nothing when no repository was asked about
  std::string build_image;          // with a template: the reference looked for
  std::optional<bool> image_found;  // nothing when no template was given

  // What a CI job still has to build: not published in the repository asked about.
  bool missing() const { return published == false; }
  nlohmann::json to_json() const;
};

// One tag listing per repository asked: a repository that does not exist yet holds nothing.
std::vector<KernelArchiveStatus> archive_status(const ArchiveStatusQuery& query);

}  // namespace ckms::builder
