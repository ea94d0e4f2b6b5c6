#pragma once
// Which RPM package makes an RPM-based kernel's headers tree, and the layer it becomes.
// Fedora, RHEL and the distributions built from their kernel.spec (CentOS Stream, Rocky,
// Alma, Oracle, Amazon Linux) ship a kernel's build tree as one package, kernel-devel (or
// kernel-<flavour>-devel: debug, rt, 64k, uek), with the whole tree under
// /usr/src/kernels/<release>/ and the Provides `kernel-devel-uname-r = <release>` (the
// `uname -r` of the kernel it builds for), which is what finds it here. Unlike Debian's
// headers there is nothing to follow: its Requires are compilers and tools (the toolchain
// layer's business), and kernel-devel-matched is an empty package tying kernel-devel to
// kernel-core. kernel-headers is the user-space API for libc, not a module build tree.
// Distributions with another layout (openSUSE's /usr/src/linux-<version>-obj split into
// kernel-devel and kernel-<flavour>-devel) are not supported.

#include <filesystem>
#include <string_view>
#include <vector>

#include "ckms/images/build_image.hpp"
#include "ckms/images/rpm.hpp"

namespace ckms::images {

inline constexpr std::string_view kKernelDevelProvide = "kernel-devel-uname-r";

struct RpmPackageFile {
  std::filesystem::path file;
  RpmHeader header;
};

// Packages the user downloaded beforehand (--rpms DIR, e.g. with `dnf download kernel-devel`).
// Every *.rpm in the directory is read; one that is not an RPM package is refused, naming it.
class RpmDirectorySource {
 public:
  explicit RpmDirectorySource(const std::filesystem::path& directory);

  // The x86_64 binary package providing kernel-devel-uname-r = release. Throws not_found
  // naming the release and the releases the directory does have, or usage when several
  // packages provide it.
  RpmPackageFile kernel_devel(std::string_view release) const;

 private:
  std::filesystem::path directory_;
  std::vector<RpmPackageFile> packages_;
};

// The headers tree of `release` from its kernel-devel package: /usr/src/kernels/<release>.
HeadersTree rpm_headers_tree(std::string_view release, const RpmPackageFile& kernel_devel);

}  // namespace ckms::images
