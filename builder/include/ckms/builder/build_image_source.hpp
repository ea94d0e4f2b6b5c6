#pragma once
// The kernel build image of one build (shared/DESIGN.md "Kernel build image"): resolved in
// its registry or layout, its labels read, and unpacked once per machine into the unpack
// cache keyed by manifest digest, where every later build of that image finds it.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "ckms/oci/descriptor.hpp"
#include "ckms/oci/image_config.hpp"
#include "ckms/oci/layer_cache.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::builder {

// DKMS's default dkms_tree. ckms mounts the build tree there, so that a build runs in the
// directory `dkms build` uses (/var/lib/dkms/<module>/<version>/build): the paths a
// compiler records (the module's build-id hashes them) are then those of a DKMS build, and
// so are the bytes of the module.
inline constexpr const char* kDkmsTreeMountPoint = "/var/lib/dkms";

struct BuildImage {
  std::string reference;     // as the user or the template named it, for messages
  oci::Descriptor manifest;  // the image manifest for this machine's architecture
  oci::ImageManifest layers;
  oci::ImageConfig config;
  std::string release;     // label io.ckms.kernel.release (or the asked release without one)
  std::string source_dir;  // label io.ckms.kernel.source-dir, else /lib/modules/<release>/build
  std::string arch;        // the kernel's arch as DKMS names it (aarch64): label io.ckms.kernel.arch, else the config's
  std::string build_arch;  // the arch the image runs on (x86_64), from the config
};

// The OCI architecture of this machine (amd64, arm64): build images run natively.
std::string host_oci_architecture();
// DKMS's `arch` (uname -m) for an OCI architecture: amd64 -> x86_64, arm64 -> aarch64.
std::string kernel_arch(std::string_view oci_architecture);

// Resolves `selector` (tag or digest) in `target`, picking this machine's platform from an
// index, and reads the config. With `expected_release`, an image whose release label names
// another kernel is refused (kind refused): building against the wrong headers gives a
// module that no node of that kernel can load. Without it, the label must be present.
BuildImage inspect_build_image(oci::Target& target, std::string_view selector, std::string_view reference,
                               const std::optional<std::string>& expected_release);

// The image's root filesystem, unpacked into `cache` when it is not there yet: layers in
// order, each blob verified as it streams, then the mount points a build needs when the
// image lacks them: /src and /out (sandbox.hpp) and kDkmsTreeMountPoint, created beneath
// the tree so that no link in the image can place them elsewhere. Safe to call from
// several threads and processes at once.
std::filesystem::path unpack_build_image(oci::Target& target, const BuildImage& image, oci::UnpackCache& cache);

}  // namespace ckms::builder
