#pragma once
// `ckms image build` as a library call, for any front end: headers packages found for every
// kernel first (a missing kernel fails before minutes go into a toolchain layer), one
// toolchain, then one image per kernel pushed where the reference template names it.

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/images/build_image.hpp"
#include "ckms/oci/reference.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::images {

// Opens a store for reading, or for pushing when `for_push`.
using TargetOpener = std::function<std::unique_ptr<oci::Target>(const oci::Reference&, bool for_push)>;

struct BuildImagesOptions {
  std::vector<std::string> kernels;
  // The toolchain: a root filesystem tarball, or the layers of `base` (exactly one of them).
  std::filesystem::path toolchain_tar;
  std::optional<oci::Reference> base;
  // Headers packages: kernel-devel .rpm files in `rpms`, else .deb files in `debs`, else
  // apt-get download into `apt_cache` (default_apt_cache() when empty).
  std::filesystem::path rpms;
  std::filesystem::path debs;
  std::filesystem::path apt_cache;
  // The OCI architecture of the kernels (arm64 for a cross build image); empty: the build
  // platform's (kBuildArchitecture). Debian headers only: an RPM tree is taken as it is.
  std::string arch;
  std::string reference_template;  // with {release} (kReleasePlaceholder)
  LayerOptions layer_options;
  TargetOpener open_target;
};

struct BuiltImage {
  std::string kernel;
  std::string reference;
  KernelImage image;
  std::vector<HeadersPackage> packages;
};

struct BuildImagesSummary {
  std::vector<BuiltImage> images;
  std::vector<oci::Descriptor> toolchain_layers;
};

class BuildImagesObserver {
 public:
  virtual ~BuildImagesObserver() = default;
  virtual void step(std::string_view /*what*/) {}
  virtual void built(const BuiltImage& /*image*/) {}
};

// $XDG_CACHE_HOME/ckms/debs, else ~/.cache/ckms/debs, else /var/cache/ckms/debs.
std::filesystem::path default_apt_cache();

BuildImagesSummary build_images(const BuildImagesOptions& options, BuildImagesObserver& observer);

}  // namespace ckms::images
