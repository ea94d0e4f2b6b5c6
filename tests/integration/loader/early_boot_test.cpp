// Early boot with Debian's own generators: a bookworm root made by mmdebstrap (cached) that
// holds the guest kernel's module tree, ckms and the hook cmake installs. `ckms install
// --initramfs --root ROOT` marks the example module and the pair (whose first module needs
// the in-tree crc-itu-t) as early and builds the kernel's initramfs again through the root's
// generator. With initramfs-tools, `lsinitramfs` must list them, and the kernel booted in
// qemu (TCG) with that initramfs must have them in /proc/modules at the initramfs's
// init-bottom stage, with nothing mounted as the root. With dracut, `lsinitrd` must list
// them and the image's command line must load them (one boot is enough for the VM budget).
// Uninstalling builds the initramfs again, without them.

#include <unistd.h>

#include <catch2/catch.hpp>

#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/oci/layout.hpp"
#include "guest_kernel.hpp"
#include "module_builds.hpp"
#include "qemu.hpp"
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

// A bookworm root with `packages`, made once per download cache; built beside it and
// renamed, so an interrupted run leaves no half root. The two generators conflict as
// Debian packages, so each has its own root, and the host needs neither.
fs::path debian_root(const std::string& name, const std::string& packages) {
  const fs::path target = testkit::download_cache() / ("rootfs-" + name);
  if (fs::exists(target / "usr")) return target;
  const fs::path temp = target.parent_path() / (".rootfs-" + name + ".tmp");
  fs::remove_all(temp);
  run_ok({"mmdebstrap", "--mode=root", "--variant=essential", "--include=" + packages,
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

  std::string initrd_in_root() const { return "/boot/initrd.img-" + release; }
  fs::path initrd() const { return root / fs::path(initrd_in_root()).relative_path(); }
  std::string reference(const std::string& package) const { return "oci:" + (layout / package).string() + ":1.0.0"; }
};

testkit::RunResult ckms(const EarlyRoot& e, std::vector<std::string> args) {
  args.insert(args.begin(), kFull.string());
  args.insert(args.end(), {"--root", e.root.string(), "--kernel", e.release});
  if (args[1] == "install") args.insert(args.end(), {"--trust", e.cert.string()});
  return testkit::run(args, {.timeout_seconds = 900});
}

// A program of the root's own, run inside it.
std::string in_root(const EarlyRoot& e, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"chroot", e.root.string()});
  return run_ok(argv);
}

bool lists(const std::string& listing, const std::string& suffix) {
  return listing.find(suffix + "\n") != std::string::npos;
}

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

void install_file(const fs::path& from, const fs::path& to, const char* mode) {
  fs::create_directories(to.parent_path());
  run_ok({"install", "-m", mode, from.string(), to.string()});
}

// A copy of a cached root with the kernel's modules (depmod'ed) and config, and ckms.
void prepare_root(EarlyRoot& e, const GuestKernel& kernel, const fs::path& cached) {
  e.root = e.work / "root";
  run_ok({"cp", "-a", cached.string(), e.root.string()});
  fs::create_directories(e.root / "lib" / "modules");
  run_ok({"cp", "-al", kernel.modules().string(), (e.root / "lib" / "modules" / e.release).string()});
  fs::copy_file(kernel.root / "boot" / ("config-" + e.release), e.root / "boot" / ("config-" + e.release));
  run_ok({"depmod", "-b", e.root.string(), e.release});
  install_file(testkit::ckms_binary(), e.root / "usr/bin/ckms", "0755");
}

// initramfs-tools with ckms's hook as `cmake --install` puts it, an initramfs of the listed
// modules only (a small image boots fast under TCG), and the test's boot and init-bottom
// scripts.
void prepare_initramfs_tools(EarlyRoot& e, const GuestKernel& kernel) {
  prepare_root(e, kernel, debian_root("initramfs-tools", "initramfs-tools,busybox,zstd"));
  install_file(fs::path(CKMS_SOURCE_DIR) / "loader/initramfs/initramfs-tools-hook",
               e.root / "usr/share/initramfs-tools/hooks/ckms", "0755");
  const fs::path conf = e.root / "etc" / "initramfs-tools";
  run_ok({"sed", "-i", "s/^MODULES=.*/MODULES=list/", (conf / "initramfs.conf").string()});
  install_file(kHere / "early" / "boot-script", conf / "scripts/ckms-test", "0644");
  install_file(kHere / "early" / "init-bottom", conf / "scripts/init-bottom/ckms-test", "0755");
}

// dracut with ckms's module as `cmake --install` puts it; the image holds dracut's base and
// ckms's module (with the kernel-modules it depends on) only, which keeps the build short.
void prepare_dracut(EarlyRoot& e, const GuestKernel& kernel) {
  prepare_root(e, kernel, debian_root("dracut", "dracut-core,mount,zstd"));
  install_file(fs::path(CKMS_SOURCE_DIR) / "loader/initramfs/dracut/90ckms/module-setup.sh",
               e.root / "usr/lib/dracut/modules.d/90ckms/module-setup.sh", "0755");
  testkit::write_text(e.root / "etc/dracut.conf.d/10-ckms-test.conf", "dracutmodules=\" base ckms \"\n");
}

void start(EarlyRoot& e) {
  e.release = cloud_releases()[1];
  e.cert = e.work / "trusted.crt";
  e.layout = e.work / "layout";
  publish_modules(e);
}

// The pair is marked early without a build; the hello install builds the image once, for
// both, with `generator`.
void install_early(const EarlyRoot& e, const std::string& generator) {
  const auto pair = ckms(e, {"install", e.reference("pair"), "--initramfs", "--no-initramfs-update"});
  INFO(pair.out << pair.err);
  REQUIRE(pair.exit_code == 0);
  CHECK(pair.out.find("needed in early boot") != std::string::npos);
  CHECK_FALSE(fs::exists(e.initrd()));
  const auto hello = ckms(e, {"install", e.reference("hello"), "--initramfs"});
  INFO(hello.out << hello.err);
  REQUIRE(hello.exit_code == 0);
  CHECK(hello.out.find("initramfs of " + e.release + " built again: chroot " + e.root.string() + " " + generator) !=
        std::string::npos);
}

// Every early module and the in-tree dependency are in `listing`.
void check_listing(const EarlyRoot& e, const std::string& listing) {
  INFO(listing);
  const std::string own = "lib/modules/" + e.release + "/updates/ckms/";
  CHECK(lists(listing, own + "ckms_hello.ko"));
  CHECK(lists(listing, own + "ckms_pair_a.ko"));
  CHECK(lists(listing, own + "ckms_pair_b.ko"));
  CHECK(lists(listing, "/crc-itu-t.ko"));  // the in-tree dependency, from kernel/lib/
}

void uninstall_early(const EarlyRoot& e) {
  const auto removed = ckms(e, {"uninstall", "ckms-hello", "ckms-pair"});
  INFO(removed.out << removed.err);
  REQUIRE(removed.exit_code == 0);
  CHECK(removed.out.find("initramfs of " + e.release + " built again") != std::string::npos);
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
  start(e);
  const GuestKernel& kernel = guest_kernel(e.release);
  prepare_initramfs_tools(e, kernel);
  install_early(e, "/usr/sbin/update-initramfs -u -k " + e.release);
  const std::string listing = in_root(e, {"lsinitramfs", e.initrd_in_root()});
  check_listing(e, listing);
  CHECK(lists(listing, "conf/modules"));

  // no_timer_check: a host this loaded makes the kernel's timer check fail under TCG.
  const fs::path console = e.work / "console.log";
  const auto qemu = testkit::run(qemu_x86_argv(kernel.vmlinuz(), e.initrd(), console, "no_timer_check boot=ckms-test"),
                                 {.timeout_seconds = 900});
  const std::string text = testkit::read_text(console);
  INFO("qemu exited " << qemu.exit_code << ": " << qemu.err << "\nconsole:\n" << text);
  for (const char* module : {"ckms_hello", "ckms_pair_a", "ckms_pair_b", "crc_itu_t"}) {
    CHECK(text.find(std::string("CKMS-EARLY module ") + module) != std::string::npos);
  }
  CHECK(text.find("CKMS-EARLY root not mounted") != std::string::npos);
  CHECK(text.find("CKMS-EARLY done") != std::string::npos);

  uninstall_early(e);
  CHECK(in_root(e, {"lsinitramfs", e.initrd_in_root()}).find("updates/ckms") == std::string::npos);
}

TEST_CASE("an early module is in the initramfs dracut builds, loaded from its command line",
          "[loader][initramfs][dracut]") {
  if (::geteuid() != 0) {
    WARN("skipped: mmdebstrap --mode=root and chroot need root");
    return;
  }
  EarlyRoot e;
  start(e);
  prepare_dracut(e, guest_kernel(e.release));
  install_early(e, "/usr/bin/dracut --force --kver " + e.release);
  check_listing(e, in_root(e, {"lsinitrd", e.initrd_in_root()}));
  // What dracut's kernel-modules (parse-kernel.sh) loads in its cmdline hook.
  CHECK(in_root(e, {"lsinitrd", "-f", "etc/cmdline.d/90ckms.conf", e.initrd_in_root()}) ==
        "rd.driver.pre=ckms_hello,ckms_pair_a,ckms_pair_b\n");

  uninstall_early(e);
  CHECK(in_root(e, {"lsinitrd", e.initrd_in_root()}).find("updates/ckms") == std::string::npos);
}

}  // namespace ckms::loader::test
