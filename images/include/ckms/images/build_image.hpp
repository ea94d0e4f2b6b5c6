#pragma once
// Kernel build images (shared/DESIGN.md, "Kernel build image"): layer 1 (or the layers of a
// base image) is a toolchain root filesystem shared by every kernel of a distro release;
// the last layer holds one kernel's headers packages unpacked with Debian's absolute layout.
// (For RPM-based kernels the last layer holds the kernel-devel package instead: rpm_packages.hpp.)
// Every layer ckms makes is deterministic, so the same inputs give the same digests and a
// shared toolchain layer is stored and pushed once.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/images/debian_packages.hpp"
#include "ckms/oci/image_config.hpp"
#include "ckms/oci/layer_create.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::images {

inline constexpr std::string_view kLabelKernelRelease = "io.ckms.kernel.release";
inline constexpr std::string_view kLabelKernelSourceDir = "io.ckms.kernel.source-dir";
// The OCI architecture of the kernel whose modules the image builds (arm64), and the
// platform the image itself runs on (linux/amd64, also its config's os/architecture). They
// differ in a cross build image.
inline constexpr std::string_view kLabelKernelArch = "io.ckms.kernel.arch";
inline constexpr std::string_view kLabelBuildPlatform = "io.ckms.build.platform";
// Images ckms makes run on amd64: the toolchain and kbuild's host programs are amd64's.
inline constexpr std::string_view kBuildArchitecture = "amd64";
inline constexpr std::string_view kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct LayerOptions {
  oci::LayerCompression compression = oci::LayerCompression::gzip;
  // Clamp for every mtime; when absent, the input's own time is used (the rootfs tarball's
  // mtime, the newest package build time), which is just as reproducible.
  std::optional<std::int64_t> source_date_epoch;
};

// The lower layers every kernel image shares, and the config they come with.
struct Toolchain {
  std::shared_ptr<oci::Target> store;  // holds the blobs of `layers`
  std::vector<oci::Descriptor> layers;
  oci::ImageConfig config;
};

// Re-packs a root filesystem tarball (plain, gzip, zstd or xz; e.g. mmdebstrap's output)
// as one deterministic layer, kept in an OCI layout under `work_dir`.
Toolchain toolchain_from_tar(const std::filesystem::path& rootfs_tar, const std::filesystem::path& work_dir,
                             const LayerOptions& options);

// Takes the layers and config of an existing linux/amd64 image as they are.
Toolchain toolchain_from_image(std::shared_ptr<oci::Target> source, std::string_view reference);

// The image config of a kernel image over `toolchain` (exposed for tests and `inspect`):
// it runs on kBuildArchitecture and builds modules for `kernel_arch`.
oci::ImageConfig kernel_image_config(const Toolchain& toolchain, std::string_view release, std::string_view source_dir,
                                     const ckms::Digest& headers_diff_id, std::string comment, std::int64_t created,
                                     std::string_view kernel_arch = kBuildArchitecture);

// One package whose files go into a headers layer, whatever its format.
struct HeadersPackage {
  std::filesystem::path file;
  std::string name;
  std::string version;
  std::int64_t build_time = 0;
  oci::UnpackResult (*unpack)(const std::filesystem::path& package, const std::filesystem::path& target) = nullptr;
};

// What makes one kernel's headers layer: its packages, and where they put the kernel build
// tree (the io.ckms.kernel.source-dir label), which the build checks they really hold.
struct HeadersTree {
  std::string source_dir;
  std::vector<HeadersPackage> packages;
  std::string arch = std::string(kBuildArchitecture);  // OCI architecture of the kernel
};

// Debian's tree: the packages kernel_header_packages found, at /usr/src/linux-headers-<release>.
HeadersTree debian_headers_tree(std::string_view release, const std::vector<PackageFile>& packages,
                                std::string_view arch = kBuildArchitecture);

// Debian's name for an OCI architecture (386 -> i386, ppc64le -> ppc64el; amd64, arm64,
// riscv64, s390x are spelt alike); refuses one Debian does not build kernels for.
std::string debian_architecture(std::string_view oci_architecture);

struct KernelImage {
  std::string release;
  oci::Descriptor manifest;
  oci::Descriptor headers_layer;
};

// Unpacks `packages` into a staging tree under `work_dir`, makes the headers layer, pushes
// what `destination` lacks (toolchain layers, headers layer, config, manifest) and tags the
// manifest `tag`.
KernelImage build_kernel_image(const Toolchain& toolchain, std::string_view release, const HeadersTree& headers,
                               oci::Target& destination, std::string_view tag, const std::filesystem::path& work_dir,
                               const LayerOptions& options);

// The same with Debian's tree (debian_headers_tree).
KernelImage build_kernel_image(const Toolchain& toolchain, std::string_view release,
                               const std::vector<PackageFile>& packages, oci::Target& destination, std::string_view tag,
                               const std::filesystem::path& work_dir, const LayerOptions& options);

}  // namespace ckms::images
