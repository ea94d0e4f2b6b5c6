// ckms runs as root on build hosts and nodes; another local account must gain nothing from
// what it leaves there. Every case runs ckms as root, then acts as uid/gid 65534 (nobody)
// through setpriv, and checks the outcome that the threat model in docs/security.md promises.

#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "ckms/base/io.hpp"
#include "ckms/oci/image_config.hpp"
#include "ckms/oci/layer_create.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/target.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
namespace testkit = ckms::testkit;

namespace {

constexpr const char* kNobody = "65534";
constexpr const char* kRelease = "6.1.0-0-hostile";

bool can_run() {
  if (::geteuid() != 0) {
    WARN("not root: the hostile-user tests need root to run ckms as root and setpriv");
    return false;
  }
  if (!testkit::have_program("setpriv")) {
    WARN("no setpriv (util-linux)");
    return false;
  }
  return true;
}

// Through env: setpriv keeps root's capabilities until its own execve, so the path of a
// program it runs directly is looked up as root.
testkit::RunResult as_nobody(std::vector<std::string> argv) {
  std::vector<std::string> full = {
      "setpriv", std::string("--reuid=") + kNobody, std::string("--regid=") + kNobody, "--clear-groups", "--", "env"};
  full.insert(full.end(), argv.begin(), argv.end());
  return testkit::run(full, {.env = {{"HOME", "/nonexistent"}}});
}

testkit::RunResult run_ckms(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), testkit::ckms_binary().string());
  return testkit::run(args, {.env = std::move(env)});
}

// A directory as the ones ckms is given on a real host (/var/cache, /var/lib, /tmp): other
// users may traverse it, so only what ckms itself does keeps them out.
struct Host {
  testkit::TempDir dir{"ckms-hostile-user"};
  Host() {
    fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec |
                                    fs::perms::group_read | fs::perms::others_read);
  }
  fs::path operator/(const std::string& name) const { return dir / name; }
};

// A build image whose only file is a root-owned setuid copy of id(1), as Debian's su,
// mount and passwd are in any toolchain image.
std::string setuid_image(const Host& host) {
  const fs::path tree = host / "image-tree";
  fs::create_directories(tree / "bin");
  fs::copy_file("/usr/bin/id", tree / "bin/id-setuid");
  REQUIRE(::chmod((tree / "bin/id-setuid").c_str(), 04755) == 0);
  const fs::path layout_dir = host / "images";
  ckms::oci::Layout layout(layout_dir, ckms::oci::Layout::Mode::create_if_missing);
  const auto layer = ckms::oci::create_layer(tree, host / "layer.tar.gz");
  ckms::oci::Descriptor layer_descriptor{
      .media_type = layer.media_type, .digest = layer.digest, .size = static_cast<std::int64_t>(layer.size)};
  ckms::FileReader layer_bytes(host / "layer.tar.gz");
  layout.push(layer_descriptor, layer_bytes);
  ckms::oci::ImageConfig config;
  config.labels["io.ckms.kernel.release"] = kRelease;
  config.diff_ids = {layer.diff_id};
  const std::string config_bytes = config.serialize();
  const auto config_descriptor =
      ckms::oci::Descriptor::for_content(std::string(ckms::oci::media_type::kOciConfig), config_bytes);
  ckms::oci::push_bytes(layout, config_descriptor, config_bytes);
  const ckms::oci::ImageManifest manifest{.config = config_descriptor, .layers = {layer_descriptor}};
  const std::string manifest_bytes = manifest.serialize();
  const auto manifest_descriptor =
      ckms::oci::Descriptor::for_content(std::string(ckms::oci::media_type::kOciManifest), manifest_bytes);
  ckms::oci::push_bytes(layout, manifest_descriptor, manifest_bytes);
  layout.tag(manifest_descriptor, kRelease);
  return "oci:" + layout_dir.string() + ":" + kRelease;
}

std::vector<fs::path> privileged_files(const fs::path& root) {
  std::vector<fs::path> found;
  for (const auto& item : fs::recursive_directory_iterator(root)) {
    struct stat st {};
    if (::lstat(item.path().c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) != 0) {
      found.push_back(item.path());
    }
  }
  return found;
}

bool writable_by_others(const fs::path& root) {
  for (const auto& item : fs::recursive_directory_iterator(root)) {
    struct stat st {};
    if (::lstat(item.path().c_str(), &st) == 0 && !S_ISLNK(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      UNSCOPED_INFO(item.path().string() << " has mode " << std::oct << (st.st_mode & 07777));
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("a local user gets no setuid-root binary out of the unpack cache of `ckms build`", "[security]") {
  if (!can_run()) return;
  Host host;
  const std::string image = setuid_image(host);
  fs::create_directories(host / "src");
  testkit::write_text(host / "src/dkms.conf",
                      "PACKAGE_NAME=hostile\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME[0]=hostile\n"
                      "DEST_MODULE_LOCATION[0]=/extra\n");
  testkit::write_text(host / "src/hostile.c", "\n");
  const fs::path cache = host / "cache";
  // The build itself fails (the image has no shell); the unpack it starts with is the point.
  const auto built = run_ckms({"build", (host / "src").string(), "--build-image", image, "--no-sign", "--output",
                               "oci:" + (host / "out").string(), "--cache-dir", cache.string()},
                              {{"TMPDIR", host.dir.path().string()}});
  INFO(built.out << built.err);
  const fs::path unpack = cache / "unpack";
  REQUIRE(fs::is_directory(unpack));
  std::vector<fs::path> trees;
  for (const auto& item : fs::recursive_directory_iterator(unpack)) {
    if (item.path().filename() == "id-setuid") trees.push_back(item.path());
  }
  REQUIRE(trees.size() == 1);
  const fs::path binary = trees.front();

  CHECK(privileged_files(unpack).empty());
  const auto ran = as_nobody({binary.string(), "-u"});
  INFO("as nobody: " << ran.out << ran.err);
  CHECK(ran.exit_code != 0);
  CHECK(ran.out.find('0') == std::string::npos);
  const auto listed = as_nobody({"ls", unpack.string()});
  CHECK(listed.exit_code != 0);
}

TEST_CASE("a module cache that a local user owns, with a planted lock symlink, is refused", "[security]") {
  if (!can_run()) return;
  Host host;
  // nobody's own directory, as /home/nobody or /tmp would give it one.
  const fs::path own = host / "nobody";
  fs::create_directories(own);
  REQUIRE(::chown(own.c_str(), 65534, 65534) == 0);
  const fs::path cache = own / "cache";
  const fs::path victim = host / "created-by-root";
  // Everything below is made by nobody: a directory it owns, open to all, and a lock
  // symlink pointing where only root may create files.
  REQUIRE(as_nobody({"mkdir", "-m", "0777", cache.string()}).exit_code == 0);
  REQUIRE(as_nobody({"sh", "-c",
                     "printf '{\"imageLayoutVersion\":\"1.0.0\"}' >\"$1/oci-layout\" && "
                     "printf '{\"schemaVersion\":2,\"manifests\":[]}' >\"$1/index.json\" && "
                     "ln -s \"$2\" \"$1/index.json.lock\"",
                     "sh", cache.string(), victim.string()})
              .exit_code == 0);
  const auto status = run_ckms({"status", "--cache-dir", cache.string(), "--state-dir", (host / "state").string()});
  INFO(status.out << status.err);
  CHECK_FALSE(fs::exists(fs::symlink_status(victim)));
  CHECK(status.exit_code == 5);
  CHECK_THAT(status.err, Catch::Contains(cache.string()) && Catch::Contains("owned by uid 65534"));
}

TEST_CASE("under umask 000 ckms creates nothing that others may write, and others can still read a layout",
          "[security]") {
  if (!can_run()) return;
  Host host;
  testkit::write_text(host / "payload.txt", "hello\n");
  const fs::path layout = host / "layout";
  const auto pushed = testkit::run({"sh", "-c", "umask 000 && exec \"$@\"", "sh", testkit::ckms_binary().string(),
                                    "push", "oci:" + layout.string() + ":v1", (host / "payload.txt").string(),
                                    "--artifact-type", "application/vnd.example.test"});
  INFO(pushed.out << pushed.err);
  REQUIRE(pushed.exit_code == 0);
  CHECK_FALSE(writable_by_others(layout));

  // Reading needs no write permission: not even on the index lock.
  const auto tags = as_nobody({testkit::ckms_binary().string(), "tags", "oci:" + layout.string()});
  INFO(tags.out << tags.err);
  CHECK(tags.exit_code == 0);
  CHECK_THAT(tags.out, Catch::Contains("v1"));
  const auto inspected = as_nobody({testkit::ckms_binary().string(), "inspect", "oci:" + layout.string() + ":v1"});
  INFO(inspected.out << inspected.err);
  CHECK(inspected.exit_code == 0);
  // And nobody cannot write into root's layout.
  const auto written = as_nobody({"sh", "-c", "echo x >\"$1/index.json.new\"", "sh", layout.string()});
  CHECK(written.exit_code != 0);
}
