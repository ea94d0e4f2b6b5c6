#include "ckms/images/build_images.hpp"

#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/base/temp_dir.hpp"
#include "ckms/images/debian_packages.hpp"
#include "ckms/images/resolve.hpp"
#include "ckms/images/rpm_packages.hpp"

namespace ckms::images {
namespace fs = std::filesystem;

namespace {

// Several kernels usually share one repository: open it once, so that the toolchain layer
// goes up once and a registry session is reused.
class Destinations {
 public:
  explicit Destinations(const TargetOpener& open_target) : open_target_(open_target) {}
  oci::Target& open(const oci::Reference& reference) {
    const std::string key =
        reference.is_layout() ? "oci:" + reference.layout().directory.string() : reference.registry().repository_str();
    auto& target = targets_[key];
    if (!target) target = open_target_(reference, true);
    return *target;
  }

 private:
  const TargetOpener& open_target_;
  std::map<std::string, std::unique_ptr<oci::Target>> targets_;
};

std::vector<HeadersTree> headers_trees(const BuildImagesOptions& options, BuildImagesObserver& observer) {
  std::vector<HeadersTree> trees;
  if (!options.rpms.empty()) {
    if (!options.arch.empty() && options.arch != kBuildArchitecture) {
      fail(ErrorKind::usage, "--arch {}: kernel-devel packages are taken for {} only", options.arch,
           kBuildArchitecture);
    }
    const RpmDirectorySource rpms(options.rpms);
    for (const auto& kernel : options.kernels) {
      observer.step(fmt::format("kernel {}: kernel-devel package", kernel));
      trees.push_back(rpm_headers_tree(kernel, rpms.kernel_devel(kernel)));
    }
    return trees;
  }
  std::unique_ptr<PackageSource> packages;
  if (!options.debs.empty()) {
    packages = std::make_unique<DirectorySource>(options.debs);
  } else {
    packages = std::make_unique<AptSource>(options.apt_cache.empty() ? default_apt_cache() : options.apt_cache);
  }
  // Without --arch, each name has one candidate and no architecture is checked.
  std::optional<HeadersArchitectures> architectures;
  const std::string arch = options.arch.empty() ? std::string(kBuildArchitecture) : options.arch;
  if (!options.arch.empty()) {
    architectures = HeadersArchitectures{debian_architecture(arch), debian_architecture(kBuildArchitecture)};
  }
  for (const auto& kernel : options.kernels) {
    observer.step(fmt::format("kernel {}: headers packages ({})", kernel, arch));
    trees.push_back(debian_headers_tree(kernel, kernel_header_packages(kernel, *packages, architectures), arch));
  }
  return trees;
}

Toolchain toolchain(const BuildImagesOptions& options, const fs::path& work_dir, BuildImagesObserver& observer) {
  if (!options.toolchain_tar.empty()) {
    observer.step(fmt::format("toolchain: re-packing {}", options.toolchain_tar.string()));
    return toolchain_from_tar(options.toolchain_tar, work_dir, options.layer_options);
  }
  observer.step(fmt::format("toolchain: layers of {}", options.base->str()));
  return toolchain_from_image(std::shared_ptr<oci::Target>(options.open_target(*options.base, false)),
                              oci::selector_of(*options.base));
}

}  // namespace

fs::path default_apt_cache() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0')
    return fs::path(xdg) / "ckms/debs";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
    return fs::path(home) / ".cache/ckms/debs";
  return "/var/cache/ckms/debs";
}

BuildImagesSummary build_images(const BuildImagesOptions& options, BuildImagesObserver& observer) {
  if (options.toolchain_tar.empty() == !options.base.has_value()) {
    fail(ErrorKind::usage,
         "a kernel build image needs exactly one toolchain: a root filesystem tarball or a base image");
  }
  // Checked before any work, so a bad template does not cost a toolchain layer.
  for (const auto& kernel : options.kernels) image_reference(options.reference_template, kernel);

  const std::vector<HeadersTree> trees = headers_trees(options, observer);
  const TempDir work("ckms-image-");
  const Toolchain shared = toolchain(options, work.path() / "toolchain", observer);

  Destinations destinations(options.open_target);
  BuildImagesSummary summary;
  for (const auto& layer : shared.layers) summary.toolchain_layers.push_back(layer);
  for (std::size_t i = 0; i < options.kernels.size(); ++i) {
    const std::string& kernel = options.kernels[i];
    const std::string reference_text = image_reference(options.reference_template, kernel);
    const auto reference = oci::Reference::parse(reference_text);
    observer.step(fmt::format("kernel {}: building {}", kernel, reference_text));
    BuiltImage built{.kernel = kernel,
                     .reference = reference_text,
                     .image = build_kernel_image(shared, kernel, trees[i], destinations.open(reference),
                                                 reference.tag().value_or(oci::sanitize_tag(kernel)),
                                                 work.path() / "kernels", options.layer_options),
                     .packages = trees[i].packages};
    observer.built(built);
    summary.images.push_back(std::move(built));
  }
  return summary;
}

}  // namespace ckms::images
