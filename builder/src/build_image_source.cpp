#include "ckms/builder/build_image_source.hpp"

#include <sys/utsname.h>

#include <fmt/format.h>

#include "ckms/base/beneath_root.hpp"
#include "ckms/base/error.hpp"
#include "ckms/builder/sandbox.hpp"
#include "ckms/images/build_image.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "ckms/oci/media_types.hpp"

namespace ckms::builder {
namespace fs = std::filesystem;
namespace mt = oci::media_type;

namespace {

bool is_layer_type(std::string_view type) {
  return type == mt::kOciLayerTar || type == mt::kOciLayerGzip || type == mt::kOciLayerZstd ||
         type == mt::kDockerLayerGzip;
}

oci::Descriptor platform_manifest(oci::Target& target, std::string_view selector, std::string_view reference) {
  const oci::Descriptor root = target.resolve(selector);
  if (!mt::is_index(root.media_type)) return root;
  const std::string arch = host_oci_architecture();
  const auto index = oci::ImageIndex::parse(oci::fetch_bytes(target, root), reference);
  for (const auto& manifest : index.manifests) {
    if (manifest.platform && manifest.platform->os == "linux" && manifest.platform->architecture == arch) {
      return manifest;
    }
  }
  fail(ErrorKind::not_found, "build image {}: the index has no linux/{} image", reference, arch);
}

// The headers dir is mounted into and resolved inside the image, so it must be a plain
// absolute path: no "..", nothing a shell would interpret when it lands in MAKE.
std::string checked_source_dir(std::string value, std::string_view reference) {
  const bool plain = value.starts_with('/') && value.find("/..") == std::string::npos &&
                     value.find_first_of(" \t\n'\"$`\\;&|<>()*?[]{}") == std::string::npos;
  if (!plain) {
    fail(ErrorKind::refused, "build image {}: label {} '{}' is not a plain absolute path", reference,
         images::kLabelKernelSourceDir, value);
  }
  return value;
}

}  // namespace

std::string host_oci_architecture() {
  utsname name{};
  ::uname(&name);
  const std::string_view machine = name.machine;
  if (machine == "x86_64") return "amd64";
  if (machine == "aarch64") return "arm64";
  return std::string(machine);
}

std::string kernel_arch(std::string_view oci_architecture) {
  if (oci_architecture == "amd64") return "x86_64";
  if (oci_architecture == "arm64") return "aarch64";
  return std::string(oci_architecture);
}

BuildImage inspect_build_image(oci::Target& target, std::string_view selector, std::string_view reference,
                               const std::optional<std::string>& expected_release) {
  const oci::Descriptor descriptor = platform_manifest(target, selector, reference);
  if (!mt::is_manifest(descriptor.media_type)) {
    fail(ErrorKind::usage, "build image {}: {} is not an image manifest", reference, descriptor.media_type);
  }
  auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(target, descriptor), reference);
  if (manifest.artifact_type) {
    fail(ErrorKind::usage, "build image {}: an artifact ({}), not a container image", reference,
         *manifest.artifact_type);
  }
  for (const auto& layer : manifest.layers) {
    if (!is_layer_type(layer.media_type)) {
      fail(ErrorKind::usage, "build image {}: layer {} has media type {}, not a tar layer", reference,
           layer.digest.str(), layer.media_type);
    }
  }
  auto config = oci::ImageConfig::parse(oci::fetch_bytes(target, manifest.config),
                                        fmt::format("build image {} config", reference));
  if (config.os != "linux" || config.architecture != host_oci_architecture()) {
    fail(ErrorKind::usage, "build image {} is {}/{}; this machine runs linux/{} images", reference, config.os,
         config.architecture, host_oci_architecture());
  }

  const auto label = [&](std::string_view name) -> std::optional<std::string> {
    const auto it = config.labels.find(std::string(name));
    if (it == config.labels.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
  std::string release;
  if (const auto labelled = label(images::kLabelKernelRelease)) {
    if (expected_release && *labelled != *expected_release) {
      fail(ErrorKind::refused,
           "build image {} is labelled {}={}, not the asked kernel {}: its headers would "
           "build modules for another kernel",
           reference, images::kLabelKernelRelease, *labelled, *expected_release);
    }
    release = *labelled;
  } else if (expected_release) {
    release = *expected_release;
  } else {
    fail(ErrorKind::usage, "build image {} has no {} label; name the kernel with --kernel and --image-template",
         reference, images::kLabelKernelRelease);
  }
  std::string source_dir = checked_source_dir(
      label(images::kLabelKernelSourceDir).value_or("/lib/modules/" + release + "/build"), reference);
  // A cross build image says its kernel's architecture in a label; else it is the image's own.
  std::string arch = kernel_arch(label(images::kLabelKernelArch).value_or(config.architecture));
  std::string build_arch = kernel_arch(config.architecture);
  return BuildImage{.reference = std::string(reference),
                    .manifest = descriptor,
                    .layers = std::move(manifest),
                    .config = std::move(config),
                    .release = std::move(release),
                    .source_dir = std::move(source_dir),
                    .arch = std::move(arch),
                    .build_arch = std::move(build_arch)};
}

fs::path unpack_build_image(oci::Target& target, const BuildImage& image, oci::UnpackCache& cache) {
  return cache.ensure(image.manifest.digest, [&](const fs::path& staging) {
    for (const auto& layer : image.layers.layers) {
      // fetch() verifies digest and size as the bytes flow, and apply_layer reads to the
      // end, so a tampered blob fails the fill and no entry is kept.
      auto content = target.fetch(layer);
      oci::UnpackOptions options;
      options.layer_name = fmt::format("build image {} layer {}", image.reference, layer.digest.str());
      oci::apply_layer(*content, staging, options);
    }
    // Beneath the tree: an image whose /var is a link to / must not make the host create
    // /lib/dkms. A mount point that is not a directory still fails at the sandbox's check.
    ckms::BeneathRoot root(staging);
    for (const char* mount_point : {kSandboxSourceDir, kSandboxOutputDir, kDkmsTreeMountPoint}) {
      root.open_directory(fs::path(mount_point).relative_path().string(), true,
                          fmt::format("build image {}: mount point {}", image.reference, mount_point));
    }
  });
}

}  // namespace ckms::builder
