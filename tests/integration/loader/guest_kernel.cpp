#include "guest_kernel.hpp"

#include <map>
#include <memory>
#include <sstream>

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/kmod/kernel_key.hpp"
#include "ckms/kmod/signature.hpp"
#include "testkit.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;

std::string run_ok(const std::vector<std::string>& argv, int timeout_seconds) {
  const auto result = testkit::run(argv, {.timeout_seconds = timeout_seconds});
  INFO(argv[0] << " exited " << result.exit_code << "\nstdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  return result.out;
}

std::vector<std::string> cloud_releases() {
  const std::string out = run_ok({(fs::path(CKMS_SOURCE_DIR) / "scripts" / "kernel-releases.sh").string(), "2"});
  std::vector<std::string> releases;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) releases.push_back(line);
  }
  INFO("kernel-releases.sh found: " << out);
  REQUIRE(releases.size() == 2);
  for (const auto& release : releases) {
    INFO("no headers for " << release << "; run scripts/install-deps.sh");
    REQUIRE(fs::exists("/usr/src/linux-headers-" + release + "/Makefile"));
  }
  return releases;
}

const GuestKernel& guest_kernel(const std::string& release) {
  static std::map<std::string, std::unique_ptr<GuestKernel>> kernels;
  if (auto it = kernels.find(release); it != kernels.end()) return *it->second;
  const fs::path cache = testkit::download_cache();
  auto kernel = std::make_unique<GuestKernel>(GuestKernel{release, cache / ("linux-image-" + release)});
  if (!fs::exists(kernel->root / ".complete")) {
    const std::string package = "linux-image-" + release;
    fs::path deb;
    const auto find_deb = [&] {
      for (const auto& entry : fs::directory_iterator(cache)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with(package + "_") && name.ends_with(".deb")) deb = entry.path();
      }
    };
    find_deb();
    if (deb.empty()) {
      const auto result = testkit::run({"apt-get", "download", package}, {.cwd = cache, .timeout_seconds = 900});
      INFO("apt-get download " << package << ": " << result.err);
      REQUIRE(result.exit_code == 0);
      find_deb();
    }
    REQUIRE_FALSE(deb.empty());
    const fs::path staging = cache / (".unpack-" + release);
    fs::remove_all(staging);
    run_ok({"dpkg-deb", "-x", deb.string(), staging.string()});
    fs::remove_all(kernel->root);
    fs::rename(staging, kernel->root);
    testkit::write_text(kernel->root / ".complete", "");
  }
  REQUIRE(fs::exists(kernel->vmlinuz()));
  return *kernels.emplace(release, std::move(kernel)).first->second;
}

fs::path find_module(const fs::path& modules, const std::string& name) {
  for (const auto& entry : fs::recursive_directory_iterator(modules)) {
    const std::string file = entry.path().filename().string();
    if (file == name + ".ko" || file == name + ".ko.xz" || file == name + ".ko.zst") return entry.path();
  }
  FAIL("no module " << name << " below " << modules);
  return {};
}

namespace {

// The bzImage's payload, decompressed: `lz4 -dc` from the legacy LZ4 frame's magic on. lz4
// complains about the setup code's bytes after the frame, having written the kernel.
std::string decompressed_image(const fs::path& vmlinuz) {
  const std::string image = testkit::read_text(vmlinuz);
  const auto start = image.find(std::string("\x02\x21\x4c\x18", 4));
  INFO(vmlinuz << ": no LZ4 payload (Debian's x86 kernels are LZ4-compressed)");
  REQUIRE(start != std::string::npos);
  testkit::TempDir dir("ckms-test-vmlinux");
  testkit::write_text(dir / "payload.lz4", image.substr(start));
  const auto result = testkit::run({"lz4", "-dc", (dir / "payload.lz4").string()});
  INFO("lz4: " << result.err);
  REQUIRE(result.out.size() > image.size());
  return result.out;
}

// Every DER certificate in `bytes`: a SEQUENCE with a two-byte length holding another.
std::vector<kmod::KernelKeyIdentity> certificates_in(const std::string& bytes) {
  std::vector<kmod::KernelKeyIdentity> out;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  for (auto at = bytes.find("\x30\x82"); at != std::string::npos && at + 6 < bytes.size();
       at = bytes.find("\x30\x82", at + 1)) {
    const std::size_t size = 4 + ((std::size_t{byte(at + 2)} << 8) | byte(at + 3));
    if (byte(at + 4) != 0x30 || byte(at + 5) != 0x82 || size < 300 || at + size > bytes.size()) continue;
    try {
      out.push_back(kmod::kernel_key_identity(bytes.substr(at, size), "kernel image"));
    } catch (const Error&) {
      // Bytes that only look like the start of a certificate.
    }
  }
  return out;
}

}  // namespace

std::string module_signing_certificate(const GuestKernel& kernel, const fs::path& module) {
  const auto signer = kmod::read_module_signer(module);
  REQUIRE(signer);
  for (const auto& certificate : certificates_in(decompressed_image(kernel.vmlinuz()))) {
    if (kmod::signed_by(*signer, certificate)) return certificate.der;
  }
  FAIL("no certificate in " << kernel.vmlinuz() << " signed " << module << " (signer " << signer->issuer << ", serial "
                            << signer->serial << ")");
  return {};
}

}  // namespace ckms::loader::test
