// The sandbox against real runc: the hello module builds inside it (as root with a user
// namespace range, and as an unprivileged user), and the walls hold: no network, no
// writes outside the mounts, no host files, a time limit that kills.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/builder/sandbox_bundle.hpp"
#include "ckms/builder/sandbox_run.hpp"
#include "loopback_server.hpp"
#include "sandbox_rootfs.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder;
using ckms::builder::test::test_rootfs;

namespace {

// A scratch dir container root can reach (TempDir makes 0700 dirs).
struct Scratch {
  ckms::testkit::TempDir dir{"ckms-sandbox"};
  Scratch() { fs::permissions(dir.path(), fs::perms::others_exec, fs::perm_options::add); }
  fs::path operator/(const std::string& name) const { return dir / name; }
};

SandboxSpec base_spec(const Scratch& scratch, std::vector<std::string> argv) {
  SandboxSpec spec;
  spec.rootfs = test_rootfs().path;
  spec.argv = std::move(argv);
  spec.work_dir = scratch / "work";
  spec.log_file = scratch / "build.log";
  spec.time_limit = std::chrono::seconds(120);
  return spec;
}

// Whether a cgroup dir holds a cgroup (a directory) besides its control files.
bool has_child_cgroup(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_directory()) return true;
  return false;
}

std::string log_of(const SandboxResult& r) { return ckms::testkit::read_text(r.log_file); }

// Copies examples/hello into `src` and builds it in the sandbox; the .ko lands in `out`.
SandboxResult build_hello(const Scratch& scratch, SandboxMode mode) {
  const std::string rel = test_rootfs().release;
  fs::copy(fs::path(CKMS_SOURCE_DIR) / "examples/hello", scratch / "src", fs::copy_options::recursive);
  fs::create_directory(scratch / "out");
  SandboxSpec spec = base_spec(scratch, {"sh", "-c",
                                         "make -C /usr/src/linux-headers-" + rel + " M=/src KERNELRELEASE=" + rel +
                                             " modules && cp /src/ckms_hello.ko /out/"});
  spec.mode = mode;
  spec.mounts = {{scratch / "src", kSandboxSourceDir, true}, {scratch / "out", kSandboxOutputDir, true}};
  return run_sandbox(spec);
}

void check_hello(const Scratch& scratch, const SandboxResult& r) {
  INFO(log_of(r));
  REQUIRE(r.exit_code == 0);
  REQUIRE_FALSE(r.timed_out);
  REQUIRE(fs::exists(scratch / "out/ckms_hello.ko"));
  const auto modinfo = ckms::testkit::run({"modinfo", "-F", "vermagic", (scratch / "out/ckms_hello.ko").string()});
  CHECK(modinfo.out.starts_with(test_rootfs().release + " "));
  // No runc state or bundle outlives the run.
  CHECK(fs::is_empty(scratch / "work"));
}

}  // namespace

TEST_CASE("hello builds in the rootful sandbox, like on the host", "[sandbox]") {
  if (::geteuid() != 0) {
    WARN("skipped: rootful mode needs root");
    return;
  }
  Scratch scratch;
  const auto r = build_hello(scratch, SandboxMode::rootful);
  check_hello(scratch, r);

  // The same build on the host, for the overhead of runc start and teardown.
  fs::copy(fs::path(CKMS_SOURCE_DIR) / "examples/hello", scratch / "host-src", fs::copy_options::recursive);
  const std::string rel = test_rootfs().release;
  const auto start = std::chrono::steady_clock::now();
  const auto host = ckms::testkit::run({"make", "-C", "/usr/src/linux-headers-" + rel,
                                        "M=" + (scratch / "host-src").string(), "KERNELRELEASE=" + rel, "modules"});
  const auto host_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  REQUIRE(host.exit_code == 0);
  WARN("sandbox build " << r.duration.count() << " ms, host build " << host_ms.count() << " ms");
}

TEST_CASE("the sandbox has no network, no writable root and no host files", "[sandbox]") {
  Scratch scratch;
  // A server on the host's loopback, which the sandbox must not reach.
  const ckms::testkit::LoopbackServer listener([](int) {});
  ckms::testkit::write_text(scratch / "sentinel", "host secret\n");
  fs::create_directory(scratch / "out");
  const std::string sentinel = (scratch / "sentinel").string();

  const std::vector<std::pair<std::string, std::string>> attempts = {
      {"tcp to the host", "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(listener.port())},
      {"name lookup", "getent hosts deb.debian.org"},
      {"write to /", "echo x > /escape"},
      {"write to the image", "echo x > /usr/escape"},
      {"read shadow", "cat /etc/shadow"},
      {"read a host file", "cat " + sentinel},
      {"remove a host file", "rm -f " + sentinel + " && test ! -e " + sentinel + " && false"},
  };
  for (const auto& [what, command] : attempts) {
    SandboxSpec spec = base_spec(scratch, {"bash", "-c", command});
    spec.mounts = {{scratch / "out", kSandboxOutputDir, true}};
    const auto r = run_sandbox(spec);
    INFO(what << ": " << log_of(r));
    CHECK(r.exit_code != 0);
    CHECK_FALSE(r.timed_out);
  }
  CHECK(ckms::testkit::read_text(scratch / "sentinel") == "host secret\n");
  CHECK_FALSE(fs::exists(test_rootfs().path / "escape"));
  CHECK_FALSE(fs::exists(test_rootfs().path / "usr/escape"));

  // ...while the output mount is writable and only lo exists.
  SandboxSpec spec = base_spec(scratch, {"bash", "-c", "echo ok > /out/written && ls /sys/class/net && touch /tmp/t"});
  spec.mounts = {{scratch / "out", kSandboxOutputDir, true}};
  const auto r = run_sandbox(spec);
  INFO(log_of(r));
  REQUIRE(r.exit_code == 0);
  CHECK(log_of(r) == "lo\n");
  CHECK(ckms::testkit::read_text(scratch / "out/written") == "ok\n");
}

// What a build could use to reach more of the kernel than a module build needs: new
// namespaces above all: a nested user namespace has every capability over a fresh network
// namespace, and through netlink reaches netfilter. The seccomp filter refuses them (and
// joining another's) with EPERM, while threads and forks (clone without namespace flags)
// work. The image has the util-linux tools; the other denied calls have no tool there.
TEST_CASE("the seccomp filter refuses new namespaces and setns", "[sandbox][seccomp]") {
  Scratch scratch;
  fs::create_directory(scratch / "out");
  SandboxSpec spec = base_spec(scratch, {"bash", "-c", "grep '^Seccomp:' /proc/self/status"});
  spec.mounts = {{scratch / "out", kSandboxOutputDir, true}};
  auto r = run_sandbox(spec);
  CHECK(r.exit_code == 0);
  CHECK(log_of(r) == "Seccomp:\t2\n");

  const std::vector<std::pair<std::string, std::string>> attempts = {
      {"a user and a network namespace", "unshare -U -n true"},
      {"a user namespace as root", "unshare -U -r true"},
      {"a network namespace", "unshare -n true"},
      {"a mount namespace", "unshare -m true"},
      {"a pid namespace", "unshare -p -f true"},
      {"the namespaces of pid 1", "nsenter -t 1 -n true"},
  };
  for (const auto& [what, command] : attempts) {
    spec.argv = {"bash", "-c", command};
    r = run_sandbox(spec);
    INFO(what << ": " << log_of(r));
    CHECK(r.exit_code != 0);
    CHECK(log_of(r).find("Operation not permitted") != std::string::npos);
  }

  // Forks, threads and pipes, as make and gcc use them, still work (clone3 falls back to clone).
  spec.argv = {"bash", "-c", "(echo child) | cat && unshare --fork true 2>&1; echo status $?"};
  r = run_sandbox(spec);
  INFO(log_of(r));
  CHECK(r.exit_code == 0);
  CHECK(log_of(r) == "child\nstatus 0\n");
}

// A build that prints without end gets a log of the limit's size, with a note of what was
// dropped, and still runs to its end (the pipe is drained, not left full).
TEST_CASE("the log keeps at most its limit of the output", "[sandbox][log]") {
  Scratch scratch;
  SandboxSpec spec =
      base_spec(scratch, {"bash", "-c", "head -c 1000000 /dev/zero | tr '\\0' a; echo; echo done >&2; exit 7"});
  spec.log_limit_bytes = 4096;
  auto r = run_sandbox(spec);
  CHECK(r.exit_code == 7);
  const std::string log = log_of(r);
  CHECK(log.substr(0, 4096) == std::string(4096, 'a'));
  CHECK(log.substr(4096) == "\nckms: the log was cut at 4096 bytes; 995910 bytes more output were dropped\n");

  spec.argv = {"sh", "-c", "head -c 10000 /dev/zero | tr '\\0' b; exit 3"};
  r = run_in_place(spec);
  CHECK(r.exit_code == 3);
  CHECK(log_of(r).find("5904 bytes more output were dropped") != std::string::npos);
}

// Rootful runs get a cgroup of their own with the limits, whose peaks tell afterwards
// which limit a run ran into, and which is gone once the run is.
TEST_CASE("a rootful sandbox tells when it reached its memory or pids limit", "[sandbox][limits]") {
  if (::geteuid() != 0) {
    WARN("skipped: cgroup limits need rootful runc");
    return;
  }
  Scratch scratch;
  SandboxSpec spec = base_spec(scratch, {"bash", "-c", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo ${#x}"});
  spec.mode = SandboxMode::rootful;
  spec.memory_limit_bytes = 64LL << 20;
  spec.pids_limit = 64;
  auto r = run_sandbox(spec);
  INFO(log_of(r));
  CHECK(r.exit_code != 0);
  CHECK(r.memory_limit_reached);
  CHECK_FALSE(r.pids_limit_reached);

  spec.argv = {"bash", "-c", "for i in $(seq 100); do sleep 2 & done; wait"};
  r = run_sandbox(spec);
  CHECK(r.pids_limit_reached);

  spec.argv = {"true"};
  r = run_sandbox(spec);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(r.memory_limit_reached);
  CHECK_FALSE(r.pids_limit_reached);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/fs/cgroup/memory/ckms", ec)) {
    CHECK_FALSE(entry.path().filename().string().starts_with(fmt::format("ckms-{}-", ::getpid())));
  }
  // The shared parent goes with the last build in it (another ckms on this machine may
  // still be running one).
  for (const char* hierarchy : {"memory", "pids"}) {
    const fs::path parent = fs::path("/sys/fs/cgroup") / hierarchy / "ckms";
    INFO(parent);
    CHECK((!fs::exists(parent) || has_child_cgroup(parent)));
  }
}

// What `ckms build -j2` and two ckms processes sharing a cache dir do: rootful sandboxes
// with limits start and end side by side, with one state root. Every start reaps the owner
// files of dead runs, and every end removes the shared ckms/ cgroup parent when it is empty;
// a thread here removes it all the time, as endings in every other ckms on the machine
// would. Neither may break a run that is starting: the owner file a reaper unlinked before
// its owner locked it is made again, and runc's cgroups go below a ckms/<id> that the run
// made first in every hierarchy (without it, runc's `mkdir ckms/<id>` failed with ENOENT).
TEST_CASE("rootful sandboxes starting and ending side by side do not break each other", "[sandbox][limits]") {
  if (::geteuid() != 0) {
    WARN("skipped: cgroup limits need rootful runc");
    return;
  }
  Scratch scratch;
  constexpr int kThreads = 3, kRuns = 8;
  std::atomic<bool> running{true};
  std::jthread remover([&running] {
    while (running) {
      std::error_code ec;
      for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", ec))
        ::rmdir((hierarchy.path() / "ckms").c_str());
    }
  });
  std::mutex mutex;
  std::vector<std::string> failures;
  std::vector<std::jthread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kRuns; ++i) {
        SandboxSpec spec = base_spec(scratch, {"true"});
        spec.mode = SandboxMode::rootful;
        spec.memory_limit_bytes = 256LL << 20;
        spec.pids_limit = 64;
        spec.state_root = scratch / "state";
        spec.work_dir = scratch / fmt::format("work-{}", t);
        spec.log_file = scratch / fmt::format("run-{}-{}.log", t, i);
        std::string failure;
        try {
          const auto r = run_sandbox(spec);
          if (r.exit_code != 0) failure = fmt::format("exit {}: {}", r.exit_code, log_of(r));
        } catch (const std::exception& e) {
          failure = e.what();
        }
        const std::lock_guard lock(mutex);
        if (!failure.empty()) failures.push_back(failure);
      }
    });
  }
  workers.clear();  // joins
  running = false;
  remover.join();
  for (const auto& failure : failures) UNSCOPED_INFO(failure);
  CHECK(failures.empty());
  std::error_code ec;
  for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    for (const auto& entry : fs::directory_iterator(hierarchy.path() / "ckms", ec)) {
      INFO(entry.path());
      CHECK_FALSE(entry.path().filename().string().starts_with(fmt::format("ckms-{}-", ::getpid())));
    }
  }
}

TEST_CASE("a sandbox past its time limit is killed and cleaned up", "[sandbox]") {
  Scratch scratch;
  SandboxSpec spec = base_spec(scratch, {"sleep", "60"});
  spec.time_limit = std::chrono::seconds(2);
  const auto r = run_sandbox(spec);
  INFO(log_of(r));
  CHECK(r.timed_out);
  CHECK(r.exit_code != 0);
  // Killed, not ended by itself: sooner than its sleep, however loaded the host is.
  CHECK(r.duration < std::chrono::seconds(60));
  CHECK(fs::is_empty(scratch / "work"));
  CHECK(log_of(r).find("time limit of 2 s") != std::string::npos);
}

TEST_CASE("a mount point missing from the image is refused before runc starts", "[sandbox]") {
  Scratch scratch;
  SandboxSpec spec = base_spec(scratch, {"true"});
  spec.mounts = {{scratch.dir.path(), "/no-such-dir", false}};
  CHECK_THROWS_AS(write_bundle(spec, scratch / "bundle"), ckms::Error);
}

TEST_CASE("run_in_place keeps the log, the exit code and the time limit", "[sandbox]") {
  Scratch scratch;
  SandboxSpec spec = base_spec(scratch, {"sh", "-c", "echo in place; exit 3"});
  auto r = run_in_place(spec);
  CHECK(r.exit_code == 3);
  CHECK(log_of(r) == "in place\n");

  spec.argv = {"sh", "-c", "sleep 60 & sleep 60"};
  spec.time_limit = std::chrono::seconds(1);
  r = run_in_place(spec);
  CHECK(r.timed_out);
  CHECK(r.duration < std::chrono::seconds(60));
}

// In place there are no namespaces of ckms's own, but the build runs under the same
// seccomp filter (loaded by ckms through libseccomp) and with NoNewPrivs: a user
// namespace, the start of the escapes the filter is for, is refused here too.
TEST_CASE("run_in_place runs under the seccomp filter with NoNewPrivs", "[sandbox][seccomp]") {
  Scratch scratch;
  SandboxSpec spec = base_spec(scratch, {"sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status"});
  auto r = run_in_place(spec);
  CHECK(r.exit_code == 0);
  CHECK(log_of(r) == "NoNewPrivs:\t1\nSeccomp:\t2\n");

  for (const std::string command : {"unshare -U true", "unshare -U -r -n true", "unshare -m true"}) {
    spec.argv = {"sh", "-c", command};
    r = run_in_place(spec);
    INFO(command << ": " << log_of(r));
    CHECK(r.exit_code != 0);
    CHECK(log_of(r).find("Operation not permitted") != std::string::npos);
  }

  spec.argv = {"sh", "-c", "(echo child) | cat && unshare --fork true; echo status $?"};
  r = run_in_place(spec);
  CHECK(log_of(r) == "child\nstatus 0\n");
}

// Run by the test below as an unprivileged user: the rootless path end to end.
TEST_CASE("rootless child", "[.rootless-child]") {
  Scratch scratch;
  check_hello(scratch, build_hello(scratch, SandboxMode::rootless));
}

TEST_CASE("hello builds in the rootless sandbox as an unprivileged user", "[sandbox]") {
  if (::geteuid() != 0 || !ckms::testkit::have_program("setpriv")) {
    WARN("skipped: needs root to become an unprivileged user");
    return;
  }
  test_rootfs();  // built as root, once
  Scratch scratch;
  const auto tmp = scratch / "nobody";
  fs::create_directory(tmp);
  REQUIRE(::chown(tmp.c_str(), 65534, 65534) == 0);
  ckms::testkit::RunOptions options;
  options.env = {{"TMPDIR", tmp.string()},
                 {"CKMS_TEST_CACHE", ckms::testkit::download_cache().string()},
                 {"HOME", tmp.string()},
                 {"XDG_RUNTIME_DIR", tmp.string()}};
  const auto r = ckms::testkit::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                     fs::read_symlink("/proc/self/exe").string(), "[.rootless-child]"},
                                    options);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
}
