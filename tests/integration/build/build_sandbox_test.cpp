// A hostile module source: its dkms.conf and PRE_BUILD try to reach a port the test
// listens on, to write a host path the test watches, to read a host file, to write into
// the build image, and to make a user and a network namespace of its own. The build fails
// with a clear reason, and the host is untouched.

#include <unistd.h>

#include <atomic>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "build_fixture.hpp"
#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/layout.hpp"
#include "loopback_server.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder::test;

TEST_CASE("a hostile dkms.conf and PRE_BUILD reach no network and no host file", "[build][sandbox]") {
  const auto& f = build_fixture();
  ckms::testkit::TempDir dir("ckms-build-hostile");
  fs::permissions(dir.path(),
                  fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec,
                  fs::perm_options::add);
  std::atomic<int> connections{0};
  const ckms::testkit::LoopbackServer listener([&connections](int) { ++connections; });
  const fs::path secret = dir / "secret.h";
  const std::string secret_text = "#define CKMS_HOST_SECRET \"" + std::to_string(::getpid()) + "\"\n";
  ckms::testkit::write_text(secret, secret_text);
  fs::permissions(secret, fs::perms::others_read, fs::perm_options::add);
  const fs::path watched = dir / "watched";

  const fs::path src = dir / "hostile";
  copy_hello(src);
  // The module only compiles with the host's secret header in its tree.
  ckms::testkit::write_text(src / "hello.c", "#include \"secret.h\"\n" + ckms::testkit::read_text(src / "hello.c"));
  // dkms.conf itself runs in the sandbox: a readable secret would show in the version.
  ckms::testkit::write_text(src / "dkms.conf", ckms::testkit::read_text(src / "dkms.conf") +
                                                   "PACKAGE_VERSION=1.0.0$(test -r " + secret.string() +
                                                   " && echo -leaked)\nPRE_BUILD=\"hostile.sh\"\n");
  ckms::testkit::write_text(
      src / "hostile.sh",
      "#!/bin/bash\n"
      "if exec 3<>/dev/tcp/127.0.0.1/" +
          std::to_string(listener.port()) +
          "; then echo 'hostile: network reached'; else echo 'hostile: network unreachable'; fi\n"
          "if echo pwned > " +
          watched.string() +
          "; then echo 'hostile: host write done'; else echo 'hostile: host write failed'; fi\n"
          "if cp " +
          secret.string() +
          " ./secret.h; then echo 'hostile: host read done'; else echo 'hostile: host read failed'; fi\n"
          "if echo pwned > /usr/pwned; then echo 'hostile: image write done'; else echo 'hostile: image write failed'; "
          "fi\n"
          "if unshare -U -r -n true; then echo 'hostile: namespaces made'; else echo 'hostile: namespaces refused'; "
          "fi\n"
          "exit 0\n");
  fs::permissions(src / "hostile.sh", fs::perms::owner_all, fs::perm_options::add);

  const fs::path out = dir / "out";
  const BuildRun run = ckms_build_json({src.string(), "--kernel", f.releases[1], "--image-template", f.image_template(),
                                        "--no-sign", "--cache-dir", f.cache_dir.string(), "--log-dir",
                                        (dir / "logs").string(), "--output", "oci:" + out.string()});
  CHECK_BUILD_EXIT(run, 1);
  const auto& k = run.kernel(f.releases[1]);
  CHECK(k.at("status") == "failed");
  CHECK(k.at("version") == "1.0.0");
  CHECK(k.at("reason").get<std::string>().find("make failed") != std::string::npos);
  const std::string log = ckms::testkit::read_text(k.at("log").get<std::string>());
  INFO(log);
  CHECK(log.find("hostile: network unreachable") != std::string::npos);
  CHECK(log.find("hostile: host write failed") != std::string::npos);
  CHECK(log.find("hostile: host read failed") != std::string::npos);
  CHECK(log.find("hostile: image write failed") != std::string::npos);
  // The seccomp filter: no nested user and network namespace with capabilities inside.
  CHECK(log.find("unshare: unshare failed: Operation not permitted") != std::string::npos);
  CHECK(log.find("hostile: namespaces refused") != std::string::npos);
  CHECK(log.find("secret.h: No such file") != std::string::npos);
  CHECK(log.find(secret_text.substr(0, 30)) == std::string::npos);

  CHECK(connections == 0);
  CHECK_FALSE(fs::exists(watched));
  CHECK(ckms::testkit::read_text(secret) == secret_text);
  for (const auto& entry : fs::directory_iterator(f.cache_dir / "unpack/sha256")) {
    CHECK_FALSE(fs::exists(entry.path() / "rootfs/usr/pwned"));
  }
  ckms::oci::Layout layout(out, ckms::oci::Layout::Mode::open_existing);
  CHECK(layout.tags().empty());
}

// Each sandbox run has a cgroup of its own with the --memory and --pids-limit limits, and a
// build that fails against one says which (cgroup v1, rootful, as on this builder); the
// build tree is a tmpfs of --scratch-size, and /out holds at most --output-limit.
TEST_CASE("a build past its memory, process or scratch limit fails and says which limit", "[build][sandbox][limits]") {
  if (::geteuid() != 0) {
    WARN("skipped: cgroup limits need rootful runc");
    return;
  }
  const auto& f = build_fixture();
  ckms::testkit::TempDir dir("ckms-build-limits");
  fs::permissions(dir.path(), fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add);
  // make runs a script of the source tree, so that dkms.conf needs no shell quoting.
  const auto build_with = [&](const std::string& name, const std::string& script,
                              const std::vector<std::string>& flags) {
    const fs::path src = dir / name;
    copy_hello(src);
    ckms::testkit::write_text(src / "make.sh", script);
    ckms::testkit::write_text(src / "dkms.conf",
                              ckms::testkit::read_text(src / "dkms.conf") + "MAKE[0]=\"bash make.sh\"\n");
    std::vector<std::string> args = {src.string(),       "--kernel",
                                     f.releases[1],      "--image-template",
                                     f.image_template(), "--no-sign",
                                     "--cache-dir",      f.cache_dir.string(),
                                     "--log-dir",        (dir / "logs").string(),
                                     "--output",         "oci:" + (dir / ("out-" + name)).string()};
    args.insert(args.end(), flags.begin(), flags.end());
    return ckms_build_json(args);
  };

  // bash holding a 400 MB string, against a 128 MiB limit.
  const BuildRun hog =
      build_with("hog", "x=$(head -c 400000000 /dev/zero | tr '\\0' a)\necho ${#x}\n", {"--memory", "128M"});
  INFO(hog.result.out << hog.result.err);
  CHECK_BUILD_EXIT(hog, 1);
  const auto& hogged = hog.kernel(f.releases[1]);
  CHECK(hogged.at("status") == "failed");
  CHECK_THAT(hogged.at("reason").get<std::string>(), Catch::Contains("the build of ckms-hello for " + f.releases[1] +
                                                                     " exceeded its memory limit of 128 MiB") &&
                                                         Catch::Contains("raise --memory"));

  // More processes at once than the limit allows: forks fail, the module is never made.
  const BuildRun forks = build_with("forks", "for i in $(seq 64); do sleep 3 & done\nwait\n", {"--pids-limit", "32"});
  INFO(forks.result.out << forks.result.err);
  CHECK_BUILD_EXIT(forks, 1);
  CHECK_THAT(forks.kernel(f.releases[1]).at("reason").get<std::string>(),
             Catch::Contains("reached its limit of 32 processes: raise --pids-limit"));

  // The build tree is a tmpfs of --scratch-size: a build that writes more is refused space,
  // and nothing of it reaches the host's scratch dir.
  const BuildRun big = build_with("big", "head -c 200000000 /dev/zero > big.bin\n", {"--scratch-size", "64M"});
  INFO(big.result.out << big.result.err);
  CHECK_BUILD_EXIT(big, 1);
  const std::string big_log = ckms::testkit::read_text(big.kernel(f.releases[1]).at("log").get<std::string>());
  CHECK(big_log.find("No space left on device") != std::string::npos);

  // /out is a bind mount of the host's scratch dir, measured while the build runs: a build
  // that writes more than --output-limit there is killed and says so, long before all of
  // its 600 MB reach the host.
  const BuildRun out =
      build_with("out", "head -c 600000000 /dev/zero > /out/big.bin\nsleep 60\n", {"--output-limit", "64M"});
  INFO(out.result.out << out.result.err);
  CHECK_BUILD_EXIT(out, 1);
  const auto& filled = out.kernel(f.releases[1]);
  CHECK_THAT(filled.at("reason").get<std::string>(),
             Catch::Contains("the build of ckms-hello for " + f.releases[1] +
                             " wrote more than its output limit of 64 MiB into /out: raise --output-limit"));
  CHECK_THAT(ckms::testkit::read_text(filled.at("log").get<std::string>()),
             Catch::Contains("the output dir holds more than its limit of 67108864 bytes, killing container"));

  // No cgroup of these builds is left behind. Their container ids start with their ckms
  // pid; the cgroups of other builds on this machine, running beside the test, may be there.
  for (const BuildRun* run : {&hog, &forks, &big, &out}) {
    const std::string prefix = fmt::format("ckms-{}-", run->result.pid);
    std::error_code ec;
    for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      for (const auto& entry : fs::directory_iterator(hierarchy.path() / "ckms", ec)) {
        INFO(entry.path());
        CHECK_FALSE(entry.path().filename().string().starts_with(prefix));
      }
    }
  }
}
