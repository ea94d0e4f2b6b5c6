#pragma once
// The kernel releases a Debian archive offers: packages named linux-image-<release> (the
// signed image, or its -unsigned twin), each with or without linux-headers-<release>. Meta
// packages (linux-image-cloud-amd64) name no release and debug symbols (-dbg) no kernel
// one can boot, so neither counts. Read from apt's indexes as `apt-get update` left them,
// or from a directory of downloaded .deb files.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckms::images {

inline constexpr std::string_view kDefaultAptListsDir = "/var/lib/apt/lists";

struct ArchiveKernel {
  std::string release;   // as `uname -r` prints it: "6.1.0-57-cloud-amd64"
  std::string flavour;   // "cloud-amd64"
  bool headers = false;  // linux-headers-<release> is offered too (a build image can be made)
};

// The flavour of a Debian kernel release: what follows the upstream version and its ABI
// number ("6.1.0-57-cloud-amd64" -> "cloud-amd64", "6.12.9+deb13-amd64" -> "amd64"); ""
// when `release` does not look like one.
std::string kernel_flavour(std::string_view release);

// The release a linux-image-* package installs, or nothing for meta and -dbg packages.
std::optional<std::string> image_package_release(std::string_view package);

// The kernels among `package_names` whose flavour is one of `flavours` (every flavour when
// empty), sorted by release.
std::vector<ArchiveKernel> archive_kernels(const std::vector<std::string>& package_names,
                                           const std::vector<std::string>& flavours);

// The linux-image-* and linux-headers-* package names of every Packages index in
// `lists_dir` (apt's *_Packages files, compressed or not). not_found when there is none:
// the host has no apt sources, or never ran `apt-get update`.
std::vector<std::string> apt_list_kernel_packages(const std::filesystem::path& lists_dir);

// The same, from the control files of the .deb files in `directory`.
std::vector<std::string> deb_directory_kernel_packages(const std::filesystem::path& directory);

}  // namespace ckms::images
