// kill -9 during `ckms build`, while it unpacks the kernel build image and while the
// sandboxed compile runs. The next run must complete with output that `ckms verify`
// passes; the unpack cache never holds a partial image under its final name; a container
// the killed run left running is stopped by the next run, not left to its own devices; the
// killed run's scratch dir is removed by the next run. SIGTERM and SIGINT are different:
// ckms itself stops its containers before it exits.
//
// Every kill lands at a point the build itself shows, never after a guessed delay: during
// the unpack once its staging directory exists, during the compile once runc reports the
// container running a make that cannot finish. What the next run must do is then decided
// from what the killed run left in the output layout, not from when the kill was meant to land.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <thread>

#include <ckms/artifact/module_artifact.hpp>

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "background_process.hpp"
#include "build_fixture.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder::test;
using namespace std::chrono_literals;

namespace {

struct CrashTally {
  int kills = 0, completed_after = 0, leftovers = 0;
};

// The same line as tests/integration/faults/crash_test.cpp, so the two tables read as one.
void report(const std::string& what, const CrashTally& t) {
  std::cout << fmt::format("kill -9 {:<24} killed mid-run {:>3}, next run completed {:>3}, hidden leftovers {:>3}\n",
                           what, t.kills, t.completed_after, t.leftovers);
}

// `ckms build` in the background with TMPDIR inside the test's directory, where the test
// can see the scratch dir a killed run leaves.
ckms::testkit::BackgroundProcess start_build(const std::vector<std::string>& args, const fs::path& tmpdir) {
  std::vector<std::string> argv = {ckms::testkit::ckms_binary().string(), "--quiet", "build"};
  argv.insert(argv.end(), args.begin(), args.end());
  return ckms::testkit::BackgroundProcess(argv, {{"TMPDIR", tmpdir.string()}});
}

// Where, after the point the build showed, each round's kill lands: a spread that stays far
// inside what follows that point (an unpack of the build image; a make that never ends).
std::vector<std::chrono::milliseconds> delays(unsigned seed, int rounds, int max_ms) {
  std::mt19937 random(seed);
  std::vector<std::chrono::milliseconds> out;
  for (int i = 0; i < rounds; ++i) out.emplace_back(std::uniform_int_distribution<int>(0, max_ms)(random));
  return out;
}

// A copy of examples/hello whose make sleeps until it is killed: a kill during its compile
// always finds the container running and the artifact unpublished, however busy the host.
void copy_stalled_hello(const fs::path& dir) {
  copy_hello(dir);
  std::ofstream(dir / "Makefile", std::ios::app)
      << "\n# Never finishes: the crash test kills it.\n$(shell sleep 600)\n";
}

// Whether the output layout holds the module for `release`, published by whichever run.
bool published(const fs::path& out, const std::string& release) {
  if (!fs::exists(out / "index.json")) return false;
  const auto tags = run_ckms({"tags", "oci:" + out.string()});
  REQUIRE(tags.exit_code == 0);
  return tags.out.find(ckms::artifact::kernel_tag("1.0.0", release) + "\n") != std::string::npos;
}

std::vector<fs::path> entries_matching(const fs::path& dir, const std::function<bool(const std::string&)>& match) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (match(entry.path().filename().string())) out.push_back(entry.path());
  }
  return out;
}

// Entries of the unpack cache under a final name (a digest) that lack the completion marker.
std::vector<fs::path> partial_images(const fs::path& cache_dir) {
  return entries_matching(cache_dir / "unpack/sha256", [&](const std::string& name) {
    return !name.starts_with('.') && !name.ends_with(".lock") &&
           !fs::exists(cache_dir / "unpack/sha256" / name / "complete");
  });
}

std::vector<fs::path> staging_dirs(const fs::path& cache_dir) {
  return entries_matching(cache_dir / "unpack/sha256",
                          [](const std::string& name) { return name.find(".staging.") != std::string::npos; });
}

// The runc containers (and their owner files) of ckms process `pid`: ids are ckms-<pid>-<n>-<random>.
std::vector<fs::path> sandboxes_of(const fs::path& cache_dir, pid_t pid, const std::string& where) {
  const std::string prefix = fmt::format("ckms-{}-", pid);
  return entries_matching(cache_dir / "sandbox" / where,
                          [&](const std::string& name) { return name.starts_with(prefix); });
}

// The host pid of a container's init, from runc's state, or 0 when runc knows no such container.
pid_t container_init(const fs::path& cache_dir, const std::string& id) {
  const auto state = ckms::testkit::run({"runc", "--root", (cache_dir / "sandbox/runc").string(), "state", id});
  if (state.exit_code != 0) return 0;
  const auto json = nlohmann::json::parse(state.out, nullptr, false);
  if (json.is_discarded() || json.value("status", "") != "running") return 0;
  return json.value("pid", 0);
}

// Running, not merely a zombie that an orphaned `runc run` has yet to reap.
bool process_alive(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (pid <= 0 || !std::getline(in, stat)) return false;
  const auto end_of_name = stat.rfind(") ");
  return end_of_name != std::string::npos && end_of_name + 2 < stat.size() && stat[end_of_name + 2] != 'Z' &&
         stat[end_of_name + 2] != 'X';
}

}  // namespace

TEST_CASE("kill -9 during ckms build: the next run completes, the unpack cache and runc are left clean",
          "[build][crash]") {
  const auto& f = build_fixture();
  const std::string release = f.releases.back();
  ckms::testkit::TempDir dir("ckms-build-crash");
  // Container root (a host uid of the mapped range) must reach the unpack cache below it.
  fs::permissions(dir.path(), fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add);
  copy_hello(dir / "hello");
  const fs::path tmpdir = dir / "tmp";
  fs::create_directories(tmpdir);
  copy_stalled_hello(dir / "stalled");
  const auto build_args = [&](const fs::path& source, const fs::path& cache_dir, const fs::path& out) {
    return std::vector<std::string>{
        source.string(),      "--kernel",    release,         "--image-template", f.image_template(), "--sign-key",
        f.key.string(),       "--sign-cert", f.cert.string(), "--cache-dir",      cache_dir.string(), "--output",
        "oci:" + out.string()};
  };
  // The next run after a kill, of the unaltered source: it builds unless the killed run had
  // already published, and what is published verifies. Returns its log.
  const auto next_run = [&](const fs::path& cache_dir, const fs::path& out, CrashTally& tally) {
    const bool killed_run_published = published(out, release);
    const BuildRun again =
        ckms_build_json(build_args(dir / "hello", cache_dir, out), {.env = {{"TMPDIR", tmpdir.string()}}});
    CHECK_BUILD_EXIT(again, 0);
    CHECK(again.kernel(release).at("status") == (killed_run_published ? "up-to-date" : "built"));
    CHECK(published(out, release));
    const auto verified = run_ckms({"verify", "oci:" + out.string()});
    INFO(verified.out << verified.err);
    CHECK(verified.exit_code == 0);
    if (again.result.exit_code == 0 && verified.exit_code == 0) ++tally.completed_after;
    // The killed run's scratch dir went with the next run, which removed its own too.
    const auto scratch =
        entries_matching(tmpdir, [](const std::string& name) { return name.starts_with("ckms-scratch-"); });
    CHECK(scratch.empty());
    tally.leftovers += static_cast<int>(scratch.size());
    return ckms::testkit::read_text(again.kernel(release).at("log").get<std::string>());
  };
  // Shared by the compile rounds: the first unpack round fills it.
  const fs::path compile_cache = dir / "cache-0";

  {
    CrashTally tally;
    int round = 0;
    for (const auto delay : delays(71, 2, 200)) {
      const fs::path cache_dir = dir / fmt::format("cache-{}", round);
      const fs::path out = dir / fmt::format("out-unpack-{}", round++);
      auto build = start_build(build_args(dir / "hello", cache_dir, out), tmpdir);
      REQUIRE(build.wait_until([&] { return !staging_dirs(cache_dir).empty(); }));
      std::this_thread::sleep_for(delay);
      const bool killed = build.kill();
      const bool mid_unpack = killed && entries_matching(cache_dir / "unpack/sha256", [](const std::string& name) {
                                          return !name.starts_with('.') && !name.ends_with(".lock");
                                        }).empty();
      if (mid_unpack) ++tally.kills;
      CHECK(partial_images(cache_dir).empty());
      next_run(cache_dir, out, tally);
      CHECK(partial_images(cache_dir).empty());
      // The next run removed what the killed one was filling.
      tally.leftovers += static_cast<int>(staging_dirs(cache_dir).size());
    }
    report("ckms build (unpack)", tally);
    CHECK(tally.kills > 0);
    CHECK(tally.leftovers == 0);
  }

  {
    CrashTally tally;
    int stale = 0, stopped = 0;
    int round = 0;
    for (const auto delay : delays(72, 2, 1500)) {
      const fs::path out = dir / fmt::format("out-compile-{}", round++);
      auto build = start_build(build_args(dir / "stalled", compile_cache, out), tmpdir);
      // The first container evaluates dkms.conf; the second (counter 1) runs make.
      const std::string compile_prefix = fmt::format("ckms-{}-1-", build.pid());
      REQUIRE(build.wait_until([&] {
        for (const auto& container : entries_matching(compile_cache / "sandbox/runc", [&](const std::string& name) {
               return name.starts_with(compile_prefix);
             })) {
          if (container_init(compile_cache, container.filename().string()) != 0) return true;
        }
        return false;
      }));
      std::this_thread::sleep_for(delay);
      if (build.kill()) ++tally.kills;
      // Killed inside a make that never ends: nothing of it may have been published.
      CHECK_FALSE(published(out, release));
      // Containers of the killed run that still run now, by id, with their init's host pid.
      std::vector<std::pair<std::string, pid_t>> running;
      for (const auto& container : sandboxes_of(compile_cache, build.pid(), "runc")) {
        const std::string id = container.filename().string();
        if (const pid_t init = container_init(compile_cache, id)) running.emplace_back(id, init);
      }
      stale += static_cast<int>(running.size());
      const std::string log = next_run(compile_cache, out, tally);
      // Nothing of the killed run is left in runc's state, and its build no longer runs.
      CHECK(sandboxes_of(compile_cache, build.pid(), "runc").empty());
      CHECK(sandboxes_of(compile_cache, build.pid(), "owners").empty());
      for (const auto& [id, init] : running) {
        CHECK_FALSE(process_alive(init));
        // Stopped by the next run, not ended by itself meanwhile.
        const bool reaped = log.find("stopped container " + id + ",") != std::string::npos;
        CHECK(reaped);
        if (reaped && !process_alive(init)) ++stopped;
      }
      tally.leftovers += static_cast<int>(sandboxes_of(compile_cache, build.pid(), "runc").size());
    }
    report("ckms build (compile)", tally);
    std::cout << fmt::format("kill -9 {:<24} containers left running {:>3}, stopped by the next run {:>3}\n",
                             "ckms build (compile)", stale, stopped);
    CHECK(tally.kills == 2);
    CHECK(stale == 2);
  }
}

// SIGTERM or SIGINT while the compile runs: ckms stops its container and leaves nothing in
// runc's state before it exits 128+N, so no build runs on unattended until the next run.
TEST_CASE("SIGTERM and SIGINT during ckms build stop its containers before it exits", "[build][crash][signal]") {
  const auto& f = build_fixture();
  const std::string release = f.releases.back();
  ckms::testkit::TempDir dir("ckms-build-signal");
  fs::permissions(dir.path(), fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add);
  const fs::path src = dir / "sleepy";
  copy_hello(src);
  // make announces itself, then sleeps far longer than the test waits: the signal always
  // lands while the compile container runs. The marker is computed, so that nothing but
  // the script's run prints it.
  ckms::testkit::write_text(src / "make.sh", "echo ckms-test-marker-$((6*7))\nexec sleep 600\n");
  ckms::testkit::write_text(src / "dkms.conf",
                            ckms::testkit::read_text(src / "dkms.conf") + "MAKE[0]=\"bash make.sh\"\n");
  const fs::path tmpdir = dir / "tmp";
  fs::create_directories(tmpdir);
  const fs::path cache_dir = f.cache_dir;
  for (const auto& [signal, expected] : {std::pair{SIGTERM, 143}, std::pair{SIGINT, 130}}) {
    INFO("signal " << signal);
    const fs::path logs = dir / fmt::format("logs-{}", signal);
    auto build = start_build({src.string(), "--kernel", release, "--image-template", f.image_template(), "--no-sign",
                              "--cache-dir", cache_dir.string(), "--log-dir", logs.string(), "--output",
                              "oci:" + (dir / fmt::format("out-{}", signal)).string()},
                             tmpdir);
    const fs::path log = logs / "ckms-hello-1.0.0" / (release + ".log");
    REQUIRE(build.wait_until(
        [&] {
          return fs::exists(log) && ckms::testkit::read_text(log).find("ckms-test-marker-42") != std::string::npos;
        },
        std::chrono::minutes(5)));
    std::vector<pid_t> inits;
    for (const auto& container : sandboxes_of(cache_dir, build.pid(), "runc")) {
      inits.push_back(container_init(cache_dir, container.filename().string()));
    }
    REQUIRE(inits.size() == 1);
    CHECK(inits.front() > 0);

    const std::optional<int> status = build.signal_and_wait(signal);
    REQUIRE(status.has_value());
    CHECK(*status == expected);
    // Stopped by ckms itself, before it exited: nothing in runc's state, no owner file, no
    // process of the container, no scratch dir.
    CHECK(sandboxes_of(cache_dir, build.pid(), "runc").empty());
    CHECK(sandboxes_of(cache_dir, build.pid(), "owners").empty());
    for (const pid_t init : inits) CHECK_FALSE(process_alive(init));
    CHECK(entries_matching(tmpdir, [](const std::string& name) { return name.starts_with("ckms-scratch-"); }).empty());
    const std::string text = ckms::testkit::read_text(log);
    INFO(text);
    CHECK(text.find(fmt::format("ckms got signal {}", signal)) != std::string::npos);
  }
}
