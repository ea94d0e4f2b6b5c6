// `ckms install` / `ckms uninstall` into a root holding a Debian kernel's real module tree
// (the unpacked linux-image, depmod'ed as its postinst would), with modules built by kbuild
// for that kernel and really signed: the real depmod indexes what ckms placed, and kmod's own
// modinfo and modprobe (-b/-d ROOT) find it by name, by dependency and by modalias, as udev
// would. Uninstall must leave the tree as it was, and nothing that fails may change it.

#include <unistd.h>

#include <catch2/catch.hpp>

#include "ckms/base/digest.hpp"
#include "ckms/base/io.hpp"
#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/oci/copy.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/registry.hpp"
#include "guest_kernel.hpp"
#include "module_builds.hpp"
#include "registry_fixture.hpp"
#include "testkit.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;

namespace {

const fs::path kHere = fs::path(CKMS_SOURCE_DIR) / "tests" / "integration" / "loader";
const fs::path kFull = testkit::ckms_binary().parent_path() / "ckms-full";
// A device the pair's first module claims by MODULE_ALIAS, as udev would ask for it.
const std::string kModalias = "pci:v0000CAFEd0000BEEFsv00000000sd00000000bc00sc00i00";

// Every path below lib/modules, and the bytes of each file outside kernel/ (the package's
// own modules, which nothing here writes, are hard links shared with the download cache).
std::string fingerprint(const fs::path& root) {
  std::string out;
  const fs::path modules = root / "lib" / "modules";
  std::vector<fs::path> paths;
  for (const auto& entry : fs::recursive_directory_iterator(modules)) paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) {
    const std::string relative = fs::relative(path, modules).string();
    out += relative;
    if (fs::is_regular_file(fs::symlink_status(path)) && relative.find("/kernel/") == std::string::npos) {
      out += " " + ckms::digest_of(ckms::read_file(path, 1 << 30)).str();
    }
    out += "\n";
  }
  return out;
}

struct Tree {
  testkit::TempDir work{"ckms-install"};
  std::string release, other;
  fs::path root, layout, cert, untrusted_cert, hello_signed;
  // A merged-/usr root as Flatcar and Fedora CoreOS have: /lib -> usr/lib.
  fs::path usr_root;

  fs::path release_dir(const std::string& r) const { return root / "lib" / "modules" / r; }
  std::string reference(const std::string& package) const {
    return "oci:" + layout.string() + "/" + package + ":1.0.0";
  }
};

// Built once: the kernel's tree under root/, a second kernel's (empty) tree, the hello
// example for both and the pair for the first, signed and published into OCI layouts.
const Tree& tree() {
  static std::unique_ptr<Tree> shared;
  if (shared) return *shared;
  auto t = std::make_unique<Tree>();
  const auto releases = cloud_releases();
  t->release = releases[1];
  t->other = releases[0];
  const GuestKernel& kernel = guest_kernel(t->release);
  t->root = t->work / "root";
  fs::create_directories(t->root / "lib" / "modules" / t->other);
  run_ok({"cp", "-al", kernel.modules().string(), t->release_dir(t->release).string()});
  for (const auto& r : {t->release, t->other}) run_ok({"depmod", "-b", t->root.string(), r});

  t->cert = t->work / "trusted.crt";
  t->untrusted_cert = t->work / "untrusted.crt";
  kmod::generate_signing_key(t->work / "trusted.key", t->cert, {.common_name = "ckms install test", .rsa_bits = 2048});
  kmod::generate_signing_key(t->work / "untrusted.key", t->untrusted_cert,
                             {.common_name = "ckms install test untrusted", .rsa_bits = 2048});
  const auto key = kmod::SigningKey::load(t->work / "trusted.key", t->cert);

  t->layout = t->work / "layout";
  const fs::path hello_source = fs::path(CKMS_SOURCE_DIR) / "examples" / "hello";
  oci::Layout hello(t->layout / "hello", oci::Layout::Mode::create_if_missing);
  for (const auto& r : {t->release, t->other}) {
    const fs::path built = kbuild(hello_source, r, t->work.path());
    const std::string bytes = sign(built / "ckms_hello.ko", key);
    if (r == t->release) {
      t->hello_signed = t->work / "hello-signed.ko";
      testkit::write_text(t->hello_signed, bytes);
    }
    publish_files(hello, "ckms-hello", r, {{"ckms_hello.ko", bytes}}, {}, t->work.path());
  }
  // The same module with default parameters, signed as `ckms build --param` signs them.
  oci::Layout with_options(t->layout / "hello-options", oci::Layout::Mode::create_if_missing);
  publish_files(with_options, "ckms-hello-options", t->release,
                {{"ckms_hello.ko", testkit::read_text(t->hello_signed)}},
                {{"ckms_hello", {{"greeting", "from-artifact"}, {"repeat", "2"}}}}, t->work.path(), &key);

  t->usr_root = t->work / "usr-root";
  fs::create_directories(t->usr_root / "usr" / "lib" / "modules");
  fs::create_directories(t->usr_root / "etc");
  fs::create_directory_symlink("usr/lib", t->usr_root / "lib");
  run_ok({"cp", "-al", kernel.modules().string(), (t->usr_root / "usr" / "lib" / "modules" / t->release).string()});
  run_ok({"depmod", "-b", t->usr_root.string(), t->release});
  testkit::write_text(t->usr_root / "etc" / "os-release",
                      "NAME=\"Flatcar Container Linux by Kinvolk\"\nID=flatcar\nVERSION_ID=3815.2.0\n"
                      "SYSEXT_LEVEL=1.0\n");

  const fs::path pair = kbuild(kHere / "modules" / "pair", t->release, t->work.path());
  oci::Layout pair_layout(t->layout / "pair", oci::Layout::Mode::create_if_missing);
  publish_files(
      pair_layout, "ckms-pair", t->release,
      {{"ckms_pair_a.ko", sign(pair / "ckms_pair_a.ko", key)}, {"ckms_pair_b.ko", sign(pair / "ckms_pair_b.ko", key)}},
      {}, t->work.path());
  shared = std::move(t);
  return *shared;
}

testkit::RunResult ckms_in(const Tree& t, const fs::path& root, std::vector<std::string> args,
                           const fs::path& trust = {}) {
  args.insert(args.begin(), kFull.string());
  args.insert(args.end(), {"--root", root.string()});
  if (args[1] == "install") args.insert(args.end(), {"--trust", (trust.empty() ? t.cert : trust).string()});
  return testkit::run(args);
}

testkit::RunResult ckms(const Tree& t, std::vector<std::string> args, const fs::path& trust = {}) {
  return ckms_in(t, t.root, std::move(args), trust);
}

fs::path extension(const Tree& t) { return t.usr_root / "var" / "lib" / "extensions" / ("ckms-" + t.release); }

// systemd-sysext merges the root's extensions over its /usr in a mount namespace of the
// test's own (its mounts never reach the machine's), then `script` runs there with $1 the
// root. systemd-sysext wants /run a mount point and its overlay to propagate back from its
// own namespace, hence the tmpfs and the shared (within this namespace) tree.
testkit::RunResult in_merged_root(const fs::path& root, const std::string& script) {
  return testkit::run(
      {"unshare", "--mount", "--propagation", "private", "sh", "-ec",
       "mount -t tmpfs tmpfs /run; mount --make-rshared /; systemd-sysext merge --root=\"$1\"; " + script, "sh",
       root.string()});
}

}  // namespace

TEST_CASE("ckms install places a verified module where depmod, modinfo and modprobe find it", "[loader][install]") {
  const Tree& t = tree();
  const std::string before = fingerprint(t.root);

  const auto installed = ckms(t, {"install", t.reference("hello"), "--kernel", t.release});
  INFO(installed.out << installed.err);
  REQUIRE(installed.exit_code == 0);
  CHECK(installed.out.find("installed ckms-hello 1.0.0 for " + t.release) != std::string::npos);
  const fs::path placed = t.release_dir(t.release) / "updates" / "ckms" / "ckms_hello.ko";
  CHECK(testkit::read_text(placed) == testkit::read_text(t.hello_signed));
  CHECK((fs::status(placed).permissions() & fs::perms::all) == fs::perms(0644));
  CHECK(testkit::read_text(t.release_dir(t.release) / "modules.dep").find("updates/ckms/ckms_hello.ko:") !=
        std::string::npos);

  // kmod's own tools, no ckms involved.
  const std::string modinfo = run_ok({"modinfo", "-b", t.root.string(), "-k", t.release, "ckms_hello"});
  CHECK(modinfo.find(placed.string()) != std::string::npos);
  CHECK(modinfo.find("ckms install test") != std::string::npos);
  const std::string depends =
      run_ok({"modprobe", "-d", t.root.string(), "-S", t.release, "--show-depends", "ckms_hello"});
  CHECK(depends == "insmod " + placed.string() + " \n");

  const auto status =
      testkit::run({kFull.string(), "status", "--installed-dir", (t.root / "var/lib/ckms-installed").string(),
                    "--state-dir", (t.work / "state").string(), "--cache-dir", (t.root / "var/lib/ckms").string()});
  INFO(status.err);
  CHECK(status.out.find("ckms_hello/1.0.0, " + t.release + ", x86_64: installed\n") != std::string::npos);

  // Again: nothing to do, nothing touched.
  const std::string installed_tree = fingerprint(t.root);
  const auto again = ckms(t, {"install", t.reference("hello"), "--kernel", t.release});
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("already installed ckms-hello") != std::string::npos);
  CHECK(fingerprint(t.root) == installed_tree);

  const auto removed = ckms(t, {"uninstall", "ckms-hello"});
  INFO(removed.out << removed.err);
  CHECK(removed.exit_code == 0);
  CHECK(removed.out.find("updates/ckms/ckms_hello.ko: removed") != std::string::npos);
  CHECK(fingerprint(t.root) == before);
  CHECK(testkit::run({"modinfo", "-b", t.root.string(), "-k", t.release, "ckms_hello"}).exit_code != 0);
}

TEST_CASE("an installed module's dependencies and modalias resolve through depmod's indexes", "[loader][install]") {
  const Tree& t = tree();
  const std::string before = fingerprint(t.root);
  const auto installed = ckms(t, {"install", t.reference("pair"), "--kernel", t.release});
  INFO(installed.out << installed.err);
  REQUIRE(installed.exit_code == 0);

  const fs::path own = t.release_dir(t.release) / "updates" / "ckms";
  const std::string depends =
      run_ok({"modprobe", "-d", t.root.string(), "-S", t.release, "--show-depends", "ckms_pair_b"});
  CHECK(depends.find("crc-itu-t.ko") != std::string::npos);
  CHECK(depends.find("insmod " + (own / "ckms_pair_a.ko").string()) < depends.find((own / "ckms_pair_b.ko").string()));
  // What udev runs for a device whose modalias the module's table matches.
  const std::string by_alias =
      run_ok({"modprobe", "-d", t.root.string(), "-S", t.release, "--show-depends", kModalias});
  CHECK(by_alias == "insmod " + (own / "ckms_pair_a.ko").string() + " \n");

  CHECK(ckms(t, {"uninstall", "ckms_pair_b", "--kernel", t.release}).exit_code == 0);
  CHECK(fingerprint(t.root) == before);
}

TEST_CASE("ckms install --all installs every configured artifact; a missing one is said and skipped",
          "[loader][install]") {
  const Tree& t = tree();
  const std::string before = fingerprint(t.root);
  const fs::path config = t.root / "etc" / "ckms" / "modules.d";
  fs::create_directories(config);
  testkit::write_text(config / "10-hello.yaml", "artifact: " + t.reference("hello") + "\n");
  testkit::write_text(config / "20-unpublished.yaml", "artifact: oci:" + (t.layout / "hello").string() + ":9.9.9\n");
  testkit::write_text(config / "30-pair.yaml", "artifact: " + t.reference("pair") + "\n");

  const auto all = ckms(t, {"install", "--all", "--kernel", t.release});
  INFO(all.out << all.err);
  CHECK(all.exit_code == 3);
  CHECK(all.err.find("20-unpublished.yaml") != std::string::npos);
  CHECK(all.err.find("9.9.9") != std::string::npos);
  CHECK(all.out.find("installed ckms-hello 1.0.0 for " + t.release) != std::string::npos);
  CHECK(all.out.find("installed ckms-pair 1.0.0 for " + t.release) != std::string::npos);
  CHECK(fs::exists(t.release_dir(t.release) / "updates" / "ckms" / "ckms_pair_b.ko"));

  // The boot-time retry: every installed kernel, only what it lacks. Nothing is missing for
  // the first kernel; the second gets hello, and pair is still unpublished for it.
  fs::remove(config / "20-unpublished.yaml");
  const auto retry = ckms(t, {"install", "--all", "--retry-missing"});
  INFO(retry.out << retry.err);
  CHECK(retry.exit_code == 3);
  CHECK(retry.out.find("for " + t.release) == std::string::npos);
  CHECK(retry.out.find("installed ckms-hello 1.0.0 for " + t.other) != std::string::npos);
  CHECK(retry.err.find("30-pair.yaml") != std::string::npos);
  CHECK(retry.err.find(t.other) != std::string::npos);
  CHECK(fs::exists(t.release_dir(t.other) / "updates" / "ckms" / "ckms_hello.ko"));

  const auto removed = ckms(t, {"uninstall", "--all"});
  CHECK(removed.exit_code == 0);
  fs::remove_all(t.root / "etc");
  CHECK(fingerprint(t.root) == before);
}

TEST_CASE("ckms install by digest pin: the index's entry for each kernel, or one manifest; other bytes are refused",
          "[loader][install][pin]") {
  const Tree& t = tree();
  const std::string before = fingerprint(t.root);
  testkit::RegistryFixture registry(testkit::RegistrySetup::open_http);
  oci::RegistryRepository repo(registry.reference("ckms/hello"), registry.options());
  oci::Layout hello(t.layout / "hello", oci::Layout::Mode::open_existing);
  oci::copy(hello, "1.0.0", repo, "1.0.0");
  const ckms::Digest index = repo.resolve("1.0.0").digest;
  // The copy pushed the index, which names each kernel's manifest by digest, not by tag.
  const ckms::Digest manifest = hello.resolve(artifact::kernel_tag("1.0.0", t.release)).digest;
  const std::string repository = registry.host() + "/ckms/hello";
  const auto pinned = [&](const std::string& reference, std::vector<std::string> kernels) {
    std::vector<std::string> args{"install", reference, "--plain-http"};
    for (const auto& k : kernels) args.insert(args.end(), {"--kernel", k});
    return ckms(t, args);
  };
  const fs::path placed = t.release_dir(t.release) / "updates" / "ckms" / "ckms_hello.ko";

  // One index digest, two kernels: each gets its own entry's manifest.
  const auto by_index = pinned(repository + "@" + index.str(), {t.release, t.other});
  INFO(by_index.out << by_index.err);
  REQUIRE(by_index.exit_code == 0);
  CHECK(testkit::read_text(placed) == testkit::read_text(t.hello_signed));
  CHECK(by_index.out.find("installed ckms-hello 1.0.0 for " + t.release) != std::string::npos);
  CHECK(by_index.out.find("installed ckms-hello 1.0.0 for " + t.other) != std::string::npos);
  CHECK(ckms(t, {"uninstall", "--all"}).exit_code == 0);
  CHECK(fingerprint(t.root) == before);

  const auto by_manifest = pinned(repository + ":1.0.0@" + manifest.str(), {t.release});
  INFO(by_manifest.out << by_manifest.err);
  REQUIRE(by_manifest.exit_code == 0);
  CHECK(by_manifest.out.find(manifest.str()) != std::string::npos);
  CHECK(ckms(t, {"uninstall", "--all"}).exit_code == 0);
  CHECK(fingerprint(t.root) == before);

  // Refused, nothing installed: a digest the registry does not hold, a version the pinned
  // artifact is not, a manifest of another kernel.
  const auto unknown = pinned(repository + "@" + ckms::digest_of("not published").str(), {t.release});
  CHECK(unknown.exit_code == 3);
  CHECK(unknown.err.find("no manifest named 'sha256:") != std::string::npos);
  const auto other_version = pinned(repository + ":2.0.0@" + index.str(), {t.release});
  CHECK(other_version.exit_code == 4);
  CHECK(other_version.err.find("not version 2.0.0") != std::string::npos);
  const auto other_kernel = pinned(repository + "@" + manifest.str(), {t.other});
  CHECK(other_kernel.exit_code == 5);
  CHECK(other_kernel.err.find("wrong kernel") != std::string::npos);
}

TEST_CASE("an early-boot install is recorded for the initramfs hooks; a tree without a generator is an error",
          "[loader][install][initramfs]") {
  const Tree& t = tree();
  const std::string before = fingerprint(t.root);
  const fs::path placed = t.release_dir(t.release) / "updates" / "ckms" / "ckms_hello.ko";
  const auto early = [&] {
    return testkit::run({kFull.string(), "early-modules", "--kernel", t.release, "--installed-dir",
                         (t.root / "var/lib/ckms-installed").string(), "--modules-dir",
                         (t.root / "lib/modules").string()});
  };

  // The tree has neither update-initramfs nor dracut: installed, but loudly not in early boot.
  const auto installed = ckms(t, {"install", t.reference("hello"), "--kernel", t.release, "--initramfs"});
  INFO(installed.out << installed.err);
  CHECK(installed.exit_code == 3);
  CHECK(installed.err.find("ckms-hello 1.0.0 is installed for " + t.release +
                           ", but its initramfs was not built again") != std::string::npos);
  CHECK(installed.err.find("has neither update-initramfs (initramfs-tools) nor dracut") != std::string::npos);
  CHECK(fs::exists(placed));
  CHECK(early().out == "ckms_hello " + placed.string() + "\n");

  // Without --initramfs the record says so, and the hooks leave it out.
  const auto late = ckms(t, {"install", t.reference("hello"), "--kernel", t.release, "--no-initramfs-update"});
  INFO(late.out << late.err);
  CHECK(late.exit_code == 0);
  CHECK(late.out.find("already installed") != std::string::npos);
  CHECK(early().out.empty());

  // A file that changed since ckms wrote it stays out of the image, and is said.
  CHECK(ckms(t, {"install", t.reference("hello"), "--kernel", t.release, "--initramfs", "--no-initramfs-update"})
            .exit_code == 0);
  const std::string original = testkit::read_text(placed);
  testkit::write_text(placed, original + "tampered");
  const auto tampered = early();
  CHECK(tampered.exit_code == 0);
  CHECK(tampered.out.empty());
  CHECK(tampered.err.find(placed.string() + " changed since ckms installed it") != std::string::npos);
  testkit::write_text(placed, original);

  CHECK(ckms(t, {"uninstall", "ckms-hello", "--no-initramfs-update"}).exit_code == 0);
  CHECK(fingerprint(t.root) == before);
}

TEST_CASE("ckms install refuses what it must not do and leaves the tree as it was", "[loader][install]") {
  const Tree& t = tree();
  const std::string before = fingerprint(t.root);

  SECTION("a signer that is not trusted") {
    const auto refused = ckms(t, {"install", t.reference("hello"), "--kernel", t.release}, t.untrusted_cert);
    CHECK(refused.exit_code == 5);
    CHECK(refused.err.find("trusted") != std::string::npos);
  }
  SECTION("a kernel that is not installed") {
    const auto refused = ckms(t, {"install", t.reference("hello"), "--kernel", "6.1.0-0-none"});
    CHECK(refused.exit_code == 3);
    CHECK(refused.err.find("kernel 6.1.0-0-none is not installed") != std::string::npos);
  }
  SECTION("nothing to uninstall") {
    const auto refused = ckms(t, {"uninstall", "ckms-hello"});
    CHECK(refused.exit_code == 3);
    CHECK(refused.err.find("no package or module 'ckms-hello' was installed by ckms") != std::string::npos);
  }
  SECTION("a file ckms did not put there, on the second of two kernels: the first is rolled back") {
    const fs::path foreign = t.release_dir(t.other) / "updates" / "ckms" / "ckms_hello.ko";
    fs::create_directories(foreign.parent_path());
    testkit::write_text(foreign, "not ckms's\n");
    const std::string with_foreign = fingerprint(t.root);
    const auto refused = ckms(t, {"install", t.reference("hello"), "--kernel", t.release, "--kernel", t.other});
    INFO(refused.out << refused.err);
    CHECK(refused.exit_code == 5);
    CHECK(refused.err.find(foreign.string() + " is in the way and ckms did not put it there") != std::string::npos);
    CHECK(fingerprint(t.root) == with_foreign);
    CHECK(testkit::read_text(foreign) == "not ckms's\n");
    fs::remove_all(t.release_dir(t.other) / "updates");
  }
  CHECK(fingerprint(t.root) == before);
}

TEST_CASE("ckms install writes the artifact's default parameters to modprobe.d, and uninstall removes them",
          "[loader][install]") {
  const Tree& t = tree();
  const std::string before = fingerprint(t.root);
  const fs::path options_dir = t.root / "etc" / "modprobe.d";
  const fs::path options = options_dir / "ckms-ckms_hello.conf";

  SECTION("written, used by kmod's modprobe, removed") {
    const auto installed = ckms(t, {"install", t.reference("hello-options"), "--kernel", t.release});
    INFO(installed.out << installed.err);
    REQUIRE(installed.exit_code == 0);
    CHECK(testkit::read_text(options) ==
          "# Written by `ckms install` for package ckms-hello-options; `ckms uninstall` removes it.\n"
          "options ckms_hello greeting=from-artifact repeat=2\n");
    // What modprobe (and so udev) inserts the module with, no ckms involved.
    const std::string shown = run_ok({"modprobe", "-C", options_dir.string(), "-d", t.root.string(), "-S", t.release,
                                      "--show-depends", "ckms_hello"});
    CHECK(shown.find("updates/ckms/ckms_hello.ko greeting=from-artifact repeat=2") != std::string::npos);

    CHECK(ckms(t, {"uninstall", "ckms_hello"}).exit_code == 0);
    CHECK_FALSE(fs::exists(options));
  }
  SECTION("a file of that name ckms did not write is left as it is") {
    fs::create_directories(options_dir);
    testkit::write_text(options, "options ckms_hello repeat=9\n");
    const auto installed = ckms(t, {"install", t.reference("hello-options"), "--kernel", t.release});
    INFO(installed.out << installed.err);
    REQUIRE(installed.exit_code == 0);
    CHECK(installed.out.find(options.string() + " is not ckms's: left as it is") != std::string::npos);
    CHECK(ckms(t, {"uninstall", "ckms-hello-options"}).exit_code == 0);
    CHECK(testkit::read_text(options) == "options ckms_hello repeat=9\n");
  }
  fs::remove_all(t.root / "etc");
  CHECK(fingerprint(t.root) == before);
}

TEST_CASE("ckms install --sysext writes a system extension that systemd-sysext merges and modprobe reads",
          "[loader][install][sysext]") {
  const Tree& t = tree();
  const std::string before = fingerprint(t.usr_root);
  const fs::path ext = extension(t);
  const fs::path own = ext / "usr" / "lib" / "modules" / t.release / "updates" / "ckms";

  const auto hello = ckms_in(t, t.usr_root, {"install", "--sysext", t.reference("hello"), "--kernel", t.release});
  INFO(hello.out << hello.err);
  REQUIRE(hello.exit_code == 0);
  CHECK(hello.out.find("systemd is not running this root") != std::string::npos);
  const auto pair = ckms_in(t, t.usr_root, {"install", "--sysext", t.reference("pair"), "--kernel", t.release});
  INFO(pair.out << pair.err);
  REQUIRE(pair.exit_code == 0);

  // The host's tree is untouched; the extension holds the files, the indexes, its release.
  CHECK(fingerprint(t.usr_root) == before);
  CHECK(testkit::read_text(own / "ckms_hello.ko") == testkit::read_text(t.hello_signed));
  CHECK(testkit::read_text(ext / "usr" / "lib" / "extension-release.d" / ("extension-release.ckms-" + t.release)) ==
        "ID=flatcar\nVERSION_ID=3815.2.0\nARCHITECTURE=x86-64\n");
  // The indexes are depmod's for the merged tree: the same as for a real copy of it.
  const fs::path copy = t.work / "merged-copy";
  fs::remove_all(copy);
  fs::create_directories(copy / "lib" / "modules");
  run_ok({"cp", "-al", (t.usr_root / "usr" / "lib" / "modules" / t.release).string(),
          (copy / "lib" / "modules" / t.release).string()});
  fs::create_directories(copy / "lib" / "modules" / t.release / "updates");
  run_ok({"cp", "-a", own.string(), (copy / "lib" / "modules" / t.release / "updates" / "ckms").string()});
  run_ok({"depmod", "-b", copy.string(), t.release});
  for (const auto* index :
       {"modules.dep", "modules.alias", "modules.symbols", "modules.dep.bin", "modules.alias.bin"}) {
    INFO(index);
    CHECK(testkit::read_text(copy / "lib" / "modules" / t.release / index) ==
          testkit::read_text(ext / "usr" / "lib" / "modules" / t.release / index));
  }
  fs::remove_all(copy);

  // Merged by systemd-sysext: kmod finds the modules by name, dependency and modalias.
  REQUIRE(::geteuid() == 0);  // the merge mounts, in a namespace of its own
  const std::string merged_dir = (t.usr_root / "lib" / "modules" / t.release / "updates" / "ckms").string();
  const std::string kmod_args = " -S " + t.release + " --show-depends ";
  const auto merged = in_merged_root(
      t.usr_root, "modprobe -d \"$1\"" + kmod_args + "ckms_pair_b; echo --; modprobe -d \"$1\"" + kmod_args +
                      kModalias + "; echo --; modinfo -b \"$1\" -k " + t.release + " -F filename ckms_hello");
  INFO(merged.out << merged.err);
  REQUIRE(merged.exit_code == 0);
  CHECK(merged.err.find("Merged extensions into") != std::string::npos);
  const std::string crc = (t.usr_root / "lib" / "modules" / t.release / "kernel" / "lib" / "crc-itu-t.ko").string();
  CHECK(merged.out == "insmod " + crc + " \ninsmod " + merged_dir + "/ckms_pair_a.ko \ninsmod " + merged_dir +
                          "/ckms_pair_b.ko \n--\ninsmod " + merged_dir + "/ckms_pair_a.ko \n--\n" + merged_dir +
                          "/ckms_hello.ko\n");

  // An OS update: systemd-sysext no longer merges indexes made for the old /usr, and
  // installing again makes them for the new one.
  const fs::path os_release = t.usr_root / "etc" / "os-release";
  const std::string released = testkit::read_text(os_release);
  testkit::write_text(os_release, "ID=flatcar\nVERSION_ID=3815.2.1\nSYSEXT_LEVEL=1.0\n");
  CHECK(in_merged_root(t.usr_root, "true").err.find("No suitable extensions found") != std::string::npos);
  const auto again = ckms_in(t, t.usr_root, {"install", "--sysext", t.reference("hello"), "--kernel", t.release});
  CHECK(again.out.find("installed ckms-hello 1.0.0") == 0);
  CHECK(in_merged_root(t.usr_root, "true").err.find("Merged extensions into") != std::string::npos);
  testkit::write_text(os_release, released);

  // Uninstalled one by one: the extension keeps the other package, then goes.
  const auto first = ckms_in(t, t.usr_root, {"uninstall", "--sysext", "ckms-hello"});
  INFO(first.out << first.err);
  CHECK(first.exit_code == 0);
  CHECK_FALSE(fs::exists(own / "ckms_hello.ko"));
  CHECK(fs::exists(own / "ckms_pair_a.ko"));
  const std::string dep = testkit::read_text(ext / "usr" / "lib" / "modules" / t.release / "modules.dep");
  CHECK(dep.find("ckms_hello") == std::string::npos);
  CHECK(dep.find("updates/ckms/ckms_pair_b.ko:") != std::string::npos);
  CHECK(ckms_in(t, t.usr_root, {"uninstall", "--sysext", "--all"}).exit_code == 0);
  CHECK(fs::is_empty(t.usr_root / "var" / "lib" / "extensions"));
  CHECK(fingerprint(t.usr_root) == before);
}

TEST_CASE("ckms install --sysext refuses a root without the kernel's modules under /usr", "[loader][install][sysext]") {
  const Tree& t = tree();
  const std::string before = fingerprint(t.root);
  const auto refused = ckms(t, {"install", "--sysext", t.reference("hello"), "--kernel", t.release});
  CHECK(refused.exit_code == 3);
  CHECK(refused.err.find((t.root / "usr" / "lib" / "modules" / t.release).string() + " is not a directory") !=
        std::string::npos);
  CHECK(fingerprint(t.root) == before);
}

}  // namespace ckms::loader::test
