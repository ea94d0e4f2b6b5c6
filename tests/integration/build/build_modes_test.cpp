// The same build as an unprivileged user (rootless runc), and in place (`--runtime none`,
// as inside a pod whose root is the build image; here the host, which has the headers).

#include <unistd.h>

#include <catch2/catch.hpp>

#include "build_fixture.hpp"
#include "ckms/artifact/module_artifact.hpp"
#include "ckms/oci/layout.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder::test;

namespace {

void give_to_nobody(const fs::path& path) {
  REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
  for (const auto& entry : fs::recursive_directory_iterator(path)) {
    REQUIRE(::lchown(entry.path().c_str(), 65534, 65534) == 0);
  }
}

}  // namespace

TEST_CASE("an unprivileged user builds hello in the rootless sandbox", "[build][rootless]") {
  if (::geteuid() != 0 || !ckms::testkit::have_program("setpriv")) {
    WARN("skipped: needs root to become an unprivileged user");
    return;
  }
  const auto& f = build_fixture();
  ckms::testkit::TempDir dir("ckms-build-rootless");
  fs::permissions(dir.path(), fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  const fs::path home = dir / "home";
  fs::create_directories(home);
  copy_hello(home / "hello");
  fs::copy_file(f.key, home / "signing.key");
  fs::copy_file(f.cert, home / "signing.crt");
  // A layout is opened with a lock file its reader must be able to write, so the user
  // gets its own copy of the image, as it would pull one from a registry.
  // A build that prints its limits, then runs away with memory.
  copy_hello(home / "hog");
  ckms::testkit::write_text(home / "hog/make.sh",
                            "echo limits nproc=$(ulimit -u) as=$(ulimit -v)\n"
                            "x=$(head -c 400000000 /dev/zero | tr '\\0' a)\necho ${#x}\n");
  ckms::testkit::write_text(home / "hog/dkms.conf",
                            ckms::testkit::read_text(home / "hog/dkms.conf") + "MAKE[0]=\"bash make.sh\"\n");
  const std::string release = f.releases[1];
  const auto copied = run_ckms(
      {"copy", "oci:" + f.images.string() + ":" + release, "oci:" + (home / "images").string() + ":" + release});
  REQUIRE(copied.exit_code == 0);
  give_to_nobody(home);

  ckms::testkit::RunOptions options;
  options.env = {{"HOME", home.string()},
                 {"TMPDIR", home.string()},
                 {"XDG_CACHE_HOME", (home / ".cache").string()},
                 {"XDG_RUNTIME_DIR", home.string()}};
  options.timeout_seconds = 1200;
  const auto r = ckms::testkit::run(
      {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ckms::testkit::ckms_binary().string(), "--json",
       "build", (home / "hello").string(), "--kernel", release, "--image-template",
       "oci:" + (home / "images").string() + ":{release}", "--sign-key", (home / "signing.key").string(), "--sign-cert",
       (home / "signing.crt").string(), "--output", "oci:" + (home / "out").string()},
      options);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);

  // Rootless runc cannot set cgroup limits: --memory and --pids-limit become the rlimits
  // RLIMIT_AS and RLIMIT_NPROC of the build's processes, where a runaway build stops.
  const auto limited =
      ckms::testkit::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          ckms::testkit::ckms_binary().string(), "--json", "build", (home / "hog").string(), "--kernel",
                          release, "--image-template", "oci:" + (home / "images").string() + ":{release}", "--no-sign",
                          "--memory", "256M", "--pids-limit", "64", "--output", "oci:" + (home / "out-hog").string()},
                         options);
  INFO(limited.out << limited.err);
  CHECK(limited.exit_code == 1);
  const auto hog = nlohmann::json::parse(limited.out, nullptr, false);
  REQUIRE(hog.is_object());
  const std::string hog_log = ckms::testkit::read_text(hog.at("kernels").at(0).at("log").get<std::string>());
  CHECK_THAT(hog_log, Catch::Contains("limits nproc=64 as=262144") && Catch::Contains("allocate"));
  const auto summary = nlohmann::json::parse(r.out);
  CHECK(summary.at("kernels").at(0).at("status") == "built");
  // The default cache dir of an unprivileged user, and the log in it.
  CHECK(summary.at("kernels").at(0).at("log").get<std::string>().starts_with((home / ".cache/ckms/logs").string()));

  ckms::oci::Layout layout(home / "out", ckms::oci::Layout::Mode::open_existing);
  const auto resolved = ckms::artifact::resolve_module(layout, "1.0.0", release);
  REQUIRE(resolved.config.files.size() == 1);
  CHECK(resolved.config.files[0].vermagic.starts_with(release + " "));
  CHECK(resolved.config.files[0].signer == f.signer);
}

TEST_CASE("--runtime none builds in this root against its installed headers", "[build][in-place]") {
  const auto& f = build_fixture();
  const std::string release = f.releases[1];
  ckms::testkit::TempDir dir("ckms-build-in-place");
  copy_hello(dir / "hello");
  const BuildRun run =
      ckms_build_json({(dir / "hello").string(), "--kernel", release, "--runtime", "none", "--no-sign", "--cache-dir",
                       (dir / "cache").string(), "--output", "oci:" + (dir / "out").string()});
  REQUIRE_BUILD_EXIT(run, 0);
  const auto& k = run.kernel(release);
  CHECK(k.at("status") == "built");
  CHECK_FALSE(k.contains("buildImageDigest"));
  CHECK(k.at("modules").at(0).at("vermagic").get<std::string>().starts_with(release + " "));
  // No image is unpacked for an in-place build.
  CHECK_FALSE(fs::exists(dir / "cache/unpack"));
}
