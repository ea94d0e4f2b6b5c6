#pragma once
// Debian kernels for the loader's integration tests: the releases the archive has today
// (scripts/kernel-releases.sh, never hard-coded) and a linux-image package unpacked into
// the download cache, for its vmlinuz and /lib/modules.

#include <filesystem>
#include <string>
#include <vector>

namespace ckms::loader::test {

// The two newest cloud releases with headers installed: {older, newer}. Fails the test
// when scripts/install-deps.sh has not installed them.
std::vector<std::string> cloud_releases();

struct GuestKernel {
  std::string release;
  std::filesystem::path root;  // the unpacked package
  std::filesystem::path vmlinuz() const { return root / "boot" / ("vmlinuz-" + release); }
  std::filesystem::path modules() const { return root / "lib" / "modules" / release; }
};

// `apt-get download linux-image-<release>` and `dpkg-deb -x`, once per download cache.
const GuestKernel& guest_kernel(const std::string& release);

// Finds <name>.ko (or .ko.xz, .ko.zst) below `modules`; fails the test when absent.
std::filesystem::path find_module(const std::filesystem::path& modules, const std::string& name);

// The certificate (DER), built into the kernel image, whose key signed `module`: Debian
// builds every image with its own module signing key and keeps only its certificate, in the
// image. Fails the test when the image is not LZ4-compressed (Debian's choice for x86) or
// holds no certificate that signed the module.
std::string module_signing_certificate(const GuestKernel& kernel, const std::filesystem::path& module);

// Runs a program and fails the test (with its output) unless it exits 0; returns stdout.
std::string run_ok(const std::vector<std::string>& argv, int timeout_seconds = 600);

}  // namespace ckms::loader::test
