// The kernel hooks ckms ships, run by a real Debian kernel package: in a Debian root made by
// mmdebstrap, with ckms, its hooks, a trusted certificate and a boot config naming an
// artifact on a registry on loopback, `dpkg -i linux-image-R` (downloaded from the archive)
// runs /etc/kernel/postinst.d/ckms, which installs the module for R and depmod indexes it;
// a kernel with no artifact published says so loudly and still installs; `dpkg -r` runs
// /etc/kernel/prerm.d/ckms, which takes the module away again.

#include <unistd.h>

#include <catch2/catch.hpp>

#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/oci/registry.hpp"
#include "guest_kernel.hpp"
#include "initramfs.hpp"
#include "module_builds.hpp"
#include "registry_fixture.hpp"
#include "testkit.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;

namespace {

const fs::path kHooks = fs::path(CKMS_SOURCE_DIR) / "loader" / "kernel-hooks";

// A minimal bookworm with what a kernel package needs besides an initramfs generator (whose
// run would only cost time here): kmod and linux-base. Made once, kept in the download
// cache; every test copies it.
fs::path debian_root() {
  const fs::path cached = fs::absolute(testkit::download_cache() / "hooks-root-bookworm");
  if (fs::exists(cached / ".complete")) return cached;
  const fs::path temp = cached.parent_path() / ".hooks-root-bookworm.tmp";
  fs::remove_all(temp);
  fs::remove_all(cached);
  run_ok({"mmdebstrap", "--variant=minbase", "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
          "--include=kmod,linux-base", "--dpkgopt=path-exclude=/usr/share/man/*",
          "--dpkgopt=path-exclude=/usr/share/locale/*", "--dpkgopt=path-exclude=/usr/share/doc/*", "bookworm",
          temp.string(), testkit::debian_sources().string()},
         1200);
  testkit::write_text(temp / ".complete", "");
  fs::rename(temp, cached);
  return cached;
}

// Stands in for initramfs-tools: the kernel package depends on it or on what provides
// linux-initramfs-tool.
void install_initramfs_stand_in(const fs::path& root, const fs::path& work) {
  const fs::path package = work / "no-initramfs";
  fs::create_directories(package / "DEBIAN");
  testkit::write_text(package / "DEBIAN" / "control",
                      "Package: ckms-test-no-initramfs\nVersion: 1.0\nArchitecture: all\n"
                      "Maintainer: ckms tests <root@localhost>\nProvides: linux-initramfs-tool\n"
                      "Description: no initramfs generator, for a test root\n");
  run_ok({"dpkg-deb", "--build", "--root-owner-group", package.string(), (root / "tmp" / "no-initramfs.deb").string()});
}

fs::path kernel_package(const std::string& release) {
  guest_kernel(release);  // downloads the package into the cache
  for (const auto& entry : fs::directory_iterator(testkit::download_cache())) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("linux-image-" + release + "_") && name.ends_with(".deb")) return entry.path();
  }
  FAIL("no linux-image-" << release << " package in the download cache");
  return {};
}

// Runs `command` chrooted into `root`, with /proc (ckms finds ckms-full through
// /proc/self/exe) and /dev, in a mount namespace of its own that takes those mounts away.
testkit::RunResult in_root(const fs::path& root, const std::string& command) {
  return testkit::run({"unshare", "--mount", "--propagation", "private", "sh", "-ec",
                       "mount -t proc proc \"$1/proc\"; mount --rbind /dev \"$1/dev\"; chroot \"$1\" sh -c \"$2\"",
                       "sh", root.string(), command},
                      {.timeout_seconds = 900});
}

struct HookRoot {
  testkit::TempDir work{"ckms-test-hooks"};
  fs::path root;
  std::string release, unpublished;
  std::unique_ptr<testkit::RegistryFixture> registry;
};

// The root with ckms installed as `cmake --install` lays it out (bin/ckms, libexec/ckms/
// ckms-full and the hooks), configured for the hello example, which the registry holds
// for `release` only.
HookRoot& hook_root() {
  static std::unique_ptr<HookRoot> shared;
  if (shared) return *shared;
  auto h = std::make_unique<HookRoot>();
  const auto releases = cloud_releases();
  h->release = releases[1];
  h->unpublished = releases[0];
  h->root = h->work / "root";
  run_ok({"cp", "-a", debian_root().string(), h->root.string()});

  Initramfs tree(h->root);
  tree.add_program(testkit::ckms_binary(), "/usr/bin/ckms");
  tree.add_program(testkit::ckms_binary().parent_path() / "ckms-full", "/usr/libexec/ckms/ckms-full");
  tree.add_file(kHooks / "postinst.d-ckms", "/etc/kernel/postinst.d/ckms", true);
  tree.add_file(kHooks / "prerm.d-ckms", "/etc/kernel/prerm.d/ckms", true);

  kmod::generate_signing_key(h->work / "trusted.key", h->work / "trusted.crt",
                             {.common_name = "ckms hooks test", .rsa_bits = 2048});
  tree.add_file(h->work / "trusted.crt", "/etc/ckms/trust.d/test.crt");
  h->registry = std::make_unique<testkit::RegistryFixture>(testkit::RegistrySetup::open_http);
  const fs::path built = kbuild(fs::path(CKMS_SOURCE_DIR) / "examples" / "hello", h->release, h->work.path());
  const auto key = kmod::SigningKey::load(h->work / "trusted.key", h->work / "trusted.crt");
  auto target = oci::open_registry(h->registry->reference("ckms/hello"), h->registry->options());
  publish_files(*target, "ckms-hello", h->release, {{"ckms_hello.ko", sign(built / "ckms_hello.ko", key)}}, {},
                h->work.path());
  tree.add_text("/etc/ckms/modules.d/10-hello.yaml",
                "artifact: " + h->registry->host() + "/ckms/hello:1.0.0\nregistry: {plain-http: true}\n");

  install_initramfs_stand_in(h->root, h->work.path());
  for (const auto& release : releases) fs::copy_file(kernel_package(release), h->root / "tmp" / (release + ".deb"));
  const auto stand_in = in_root(h->root, "dpkg -i /tmp/no-initramfs.deb");
  INFO(stand_in.out << stand_in.err);
  REQUIRE(stand_in.exit_code == 0);
  shared = std::move(h);
  return *shared;
}

}  // namespace

TEST_CASE("dpkg -i of a Debian kernel package installs the configured module for it; dpkg -r removes it",
          "[loader][install][hooks]") {
  if (::geteuid() != 0) {
    WARN("skipped: dpkg in a chroot needs root");
    return;
  }
  const HookRoot& h = hook_root();
  const fs::path modules = h.root / "lib" / "modules" / h.release;
  const std::string own = "/lib/modules/" + h.release + "/updates/ckms/ckms_hello.ko";

  const auto installed = in_root(h.root, "dpkg -i /tmp/" + h.release + ".deb");
  INFO(installed.out << installed.err);
  REQUIRE(installed.exit_code == 0);
  CHECK(installed.out.find("installed ckms-hello 1.0.0 for " + h.release) != std::string::npos);
  CHECK(fs::exists(h.root / fs::path(own).relative_path()));
  CHECK(testkit::read_text(modules / "modules.dep").find("updates/ckms/ckms_hello.ko:") != std::string::npos);
  // The root's own kmod finds it for that kernel, as the kernel's first boot will.
  const auto found = in_root(h.root, "modprobe -S " + h.release + " --show-depends ckms_hello");
  INFO(found.err);
  CHECK(found.out == "insmod " + own + " \n");

  const auto removed = in_root(h.root, "dpkg -r linux-image-" + h.release);
  INFO(removed.out << removed.err);
  REQUIRE(removed.exit_code == 0);
  CHECK_FALSE(fs::exists(h.root / fs::path(own).relative_path()));
  CHECK_FALSE(fs::exists(h.root / "var" / "lib" / "ckms-installed" / h.release));
}

TEST_CASE("dpkg -i of a kernel with no artifact published says so and succeeds", "[loader][install][hooks]") {
  if (::geteuid() != 0) {
    WARN("skipped: dpkg in a chroot needs root");
    return;
  }
  const HookRoot& h = hook_root();
  const auto installed = in_root(h.root, "dpkg -i /tmp/" + h.unpublished + ".deb");
  INFO(installed.out << installed.err);
  REQUIRE(installed.exit_code == 0);
  CHECK(installed.err.find("ckms: WARNING: not every module of /etc/ckms/modules.d is installed for kernel " +
                           h.unpublished) != std::string::npos);
  // Which file and reference, and for which kernel, it looked for.
  CHECK(installed.err.find("10-hello.yaml") != std::string::npos);
  CHECK(installed.err.find(h.registry->host() + "/ckms/hello") != std::string::npos);
  CHECK_FALSE(fs::exists(h.root / "lib" / "modules" / h.unpublished / "updates"));
  CHECK(in_root(h.root, "dpkg -r linux-image-" + h.unpublished).exit_code == 0);
}

}  // namespace ckms::loader::test
