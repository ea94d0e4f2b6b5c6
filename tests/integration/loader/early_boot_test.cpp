// Early boot with Debian's own initramfs-tools: a bookworm root made by mmdebstrap (cached)
// that holds the guest kernel's module tree, ckms and the hook cmake installs. `ckms install
// --initramfs --root ROOT` marks the example module and the pair (whose first module needs
// the in-tree crc-itu-t) as early and builds the kernel's initramfs again through the root's
// update-initramfs; `lsinitramfs` must list them, and the kernel booted in qemu (TCG) with
// that initramfs must have them in /proc/modules at the initramfs's init-bottom stage, with
// nothing mounted as the root. Uninstalling builds the initramfs again, without them.

#include <unistd.h>

#include <catch2/catch.hpp>

#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/oci/layout.hpp"
#include "guest_kernel.hpp"
#include "module_builds.hpp"
#include "testkit.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;

namespace {

const fs::path kHere = fs::path(CKMS_SOURCE_DIR) / "tests" / "integration" / "loader";
const fs::path kFull = testkit::ckms_binary().parent_path() / "ckms-full";

// The host's Debian archive sources (signed by the Debian archive key), for mmdebstrap.
fs::path debian_sources() {
  for (const auto& entry : fs::directory_iterator("/etc/apt/sources.list.d")) {
    if (entry.path().extension() == ".sources" &&
        testkit::read_text(entry.path()).find("debian-archive-keyring") != std::string::npos) {
      return entry.path();
    }
  }
  FAIL("no Debian .sources file in /etc/apt/sources.list.d");
  return {};
}

// bookworm with initramfs-tools (and the busybox and zstd it recommends), made once per
// download cache; built beside it and renamed, so an interrupted run leaves no half root.
fs::path initramfs_tools_root() {
  const fs::path target = testkit::download_cache() / "rootfs-initramfs-tools";
  if (fs::exists(target / "usr" / "sbin" / "update-initramfs")) return target;
  const fs::path temp = target.parent_path() / ".rootfs-initramfs-tools.tmp";
  fs::remove_all(temp);
  run_ok({"mmdebstrap", "--mode=root", "--variant=essential", "--include=initramfs-tools,busybox,zstd",
          "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
          "--dpkgopt=path-exclude=/usr/share/doc/*", "bookworm", temp.string(), debian_sources().string()},
         1800);
  fs::rename(temp, target);
  return target;
}

struct EarlyRoot {
  testkit::TempDir work{"ckms-test-early-boot"};
  std::string release;
  fs::path root, cert, layout;

  fs::path initrd() const { return root / "boot" / ("initrd.img-" + release); }
  std::string reference(const std::string& package) const {
    return "oci:" + (layout / package).string() + ":1.0.0";
  }
};

// The hello example and the pair, built for `release`, signed and published into layouts.
void publish_modules(EarlyRoot& e) {
  kmod::generate_signing_key(e.work / "trusted.key", e.cert, {.common_name = "ckms early boot", .rsa_bits = 2048});
  const auto key = kmod::SigningKey::load(e.work / "trusted.key", e.cert);
  const fs::path hello = kbuild(fs::path(CKMS_SOURCE_DIR) / "examples" / "hello", e.release, e.work.path());
  oci::Layout hello_layout(e.layout / "hello", oci::Layout::Mode::create_if_missing);
  publish_files(hello_layout, "ckms-hello", e.release, {{"ckms_hello.ko", sign(hello / "ckms_hello.ko", key)}}, {},
                e.work.path());
  const fs::path pair = kbuild(kHere / "modules" / "pair", e.release, e.work.path());
  oci::Layout pair_layout(e.layout / "pair", oci::Layout::Mode::create_if_missing);
  publish_files(
      pair_layout, "ckms-pair", e.release,
      {{"ckms_pair_a.ko", sign(pair / "ckms_pair_a.ko", key)}, {"ckms_pair_b.ko", sign(pair / "ckms_pair_b.ko", key)}},
      {}, e.work.path());
}

// A copy of the cached root with the kernel's modules (depmod'ed) and config, ckms and its
// hook as `cmake --install` puts them, an initramfs of the listed modules only (a small
// image boots fast under TCG), and the test's boot and init-bottom scripts.
void prepare_root(EarlyRoot& e, const GuestKernel& kernel) {
  e.root = e.work / "root";
  run_ok({"cp", "-a", initramfs_tools_root().string(), e.root.string()});
  fs::create_directories(e.root / "lib" / "modules");
  run_ok({"cp", "-al", kernel.modules().string(), (e.root / "lib" / "modules" / e.release).string()});
  fs::copy_file(kernel.root / "boot" / ("config-" + e.release), e.root / "boot" / ("config-" + e.release));
  run_ok({"depmod", "-b", e.root.string(), e.release});
  run_ok({"install", "-m", "0755", testkit::ckms_binary().string(), (e.root / "usr/bin/ckms").string()});
  run_ok({"install", "-m", "0755", (fs::path(CKMS_SOURCE_DIR) / "loader/initramfs/initramfs-tools-hook").string(),
          (e.root / "usr/share/initramfs-tools/hooks/ckms").string()});
  const fs::path conf = e.root / "etc" / "initramfs-tools";
  run_ok({"sed", "-i", "s/^MODULES=.*/MODULES=list/", (conf / "initramfs.conf").string()});
  fs::create_directories(conf / "scripts" / "init-bottom");
  run_ok({"install", "-m", "0644", (kHere / "early" / "boot-script").string(), (conf / "scripts/ckms-test").string()});
  run_ok({"install", "-m", "0755", (kHere / "early" / "init-bottom").string(),
          (conf / "scripts/init-bottom/ckms-test").string()});
}

testkit::RunResult ckms(const EarlyRoot& e, std::vector<std::string> args) {
  args.insert(args.begin(), kFull.string());
  args.insert(args.end(), {"--root", e.root.string(), "--kernel", e.release});
  if (args[1] == "install") args.insert(args.end(), {"--trust", e.cert.string()});
  return testkit::run(args, {.timeout_seconds = 900});
}

std::string lsinitramfs(const EarlyRoot& e) {
  return run_ok({"chroot", e.root.string(), "lsinitramfs", ("/boot/initrd.img-" + e.release)});
}

bool lists(const std::string& listing, const std::string& suffix) {
  return listing.find(suffix + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("an early module is in the initramfs initramfs-tools builds, and loaded before the root is mounted",
          "[loader][vm][initramfs]") {
  if (::geteuid() != 0) {
    WARN("skipped: mmdebstrap --mode=root and chroot need root");
    return;
  }
  REQUIRE(testkit::have_program("qemu-system-x86_64"));
  EarlyRoot e;
  e.release = cloud_releases()[1];
  e.cert = e.work / "trusted.crt";
  e.layout = e.work / "layout";
  const GuestKernel& kernel = guest_kernel(e.release);
  publish_modules(e);
  prepare_root(e, kernel);

  // The pair is marked early without a build; the hello install builds the image once, for both.
  const auto pair = ckms(e, {"install", e.reference("pair"), "--initramfs", "--no-initramfs-update"});
  INFO(pair.out << pair.err);
  REQUIRE(pair.exit_code == 0);
  CHECK(pair.out.find("needed in early boot") != std::string::npos);
  CHECK_FALSE(fs::exists(e.initrd()));
  const auto hello = ckms(e, {"install", e.reference("hello"), "--initramfs"});
  INFO(hello.out << hello.err);
  REQUIRE(hello.exit_code == 0);
  CHECK(hello.out.find("initramfs of " + e.release + " built again: chroot " + e.root.string() +
                       " /usr/sbin/update-initramfs -u -k " + e.release) != std::string::npos);

  const std::string listing = lsinitramfs(e);
  const std::string own = "lib/modules/" + e.release + "/updates/ckms/";
  CHECK(lists(listing, own + "ckms_hello.ko"));
  CHECK(lists(listing, own + "ckms_pair_a.ko"));
  CHECK(lists(listing, own + "ckms_pair_b.ko"));
  CHECK(lists(listing, "/crc-itu-t.ko"));  // the in-tree dependency, from kernel/lib/
  CHECK(lists(listing, "conf/modules"));

  // no_timer_check: a host this loaded makes the kernel's timer check fail under TCG.
  const fs::path console = e.work / "console.log";
  const auto qemu = testkit::run({"qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1", "-no-reboot",
                                  "-display", "none", "-monitor", "none", "-serial", "file:" + console.string(),
                                  "-kernel", kernel.vmlinuz().string(), "-initrd", e.initrd().string(), "-append",
                                  "console=ttyS0 panic=-1 quiet no_timer_check boot=ckms-test"},
                                 {.timeout_seconds = 900});
  const std::string text = testkit::read_text(console);
  INFO("qemu exited " << qemu.exit_code << ": " << qemu.err << "\nconsole:\n" << text);
  for (const char* module : {"ckms_hello", "ckms_pair_a", "ckms_pair_b", "crc_itu_t"}) {
    CHECK(text.find(std::string("CKMS-EARLY module ") + module) != std::string::npos);
  }
  CHECK(text.find("CKMS-EARLY root not mounted") != std::string::npos);
  CHECK(text.find("CKMS-EARLY done") != std::string::npos);

  const auto removed = ckms(e, {"uninstall", "ckms-hello", "ckms-pair"});
  INFO(removed.out << removed.err);
  REQUIRE(removed.exit_code == 0);
  CHECK(removed.out.find("initramfs of " + e.release + " built again") != std::string::npos);
  CHECK(lsinitramfs(e).find("updates/ckms") == std::string::npos);
}

}  // namespace ckms::loader::test
