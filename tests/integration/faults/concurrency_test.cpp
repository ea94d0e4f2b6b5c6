// Two processes at once on one registry index, one layout and one loader cache. A registry
// has no compare-and-swap, so two builders publishing kernels of one module version race on
// the `<version>` index: each rebuilds it from the per-kernel tags, and the last writer's
// index must hold both. A layout and the loader's cache are shared through flock on
// index.json and content-addressed renames. CKMS_RACE_ROUNDS sets the rounds.

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <iostream>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/loader/cache.hpp"
#include "ckms/oci/layout.hpp"
#include "faults_support.hpp"

extern char** environ;

using namespace ckms;
using namespace ckms::faults;
namespace fs = std::filesystem;

namespace {

fs::path helper() { return FAULTS_HELPER; }

// Starts argv; returns the pid.
pid_t start(std::vector<std::string> argv) {
  std::vector<char*> raw;
  for (auto& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, raw[0], nullptr, nullptr, raw.data(), environ) == 0);
  return pid;
}

int finish(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("two builders publishing kernels of one version at once both end up in the index", "[race]") {
  const int rounds = std::max(env_int("CKMS_RACE_ROUNDS", 10), 1);
  testkit::TempDir dir("ckms-race");
  int both = 0;
  for (int round = 0; round < rounds; ++round) {
    const std::string version = fmt::format("1.{}", round);
    std::vector<pid_t> pids;
    std::vector<std::string> releases;
    for (int builder = 0; builder < 2; ++builder) {
      const std::string release = fmt::format("6.1.0-{}-race{}-amd64", round, builder);
      const fs::path file = dir / release / "racy.ko";
      fs::create_directories(file.parent_path());
      testkit::write_text(file, "module " + release + std::string(50000, 'x'));
      releases.push_back(release);
      pids.push_back(
          start({helper().string(), "publish", registry().host(), "faults/race", version, release, file.string()}));
    }
    for (const pid_t pid : pids) CHECK(finish(pid) == 0);
    oci::RegistryRepository direct(registry().reference("faults/race"), fast_options());
    const auto kernels = artifact::published_kernels(direct, version);
    INFO("round " << round);
    for (const auto& release : releases) {
      CHECK(std::find(kernels.begin(), kernels.end(), release) != kernels.end());
      CHECK(artifact::resolve_module(direct, version, release).config.kernel_release == release);
    }
    if (kernels.size() == 2) ++both;
  }
  std::cout << fmt::format("concurrent publish: {} rounds, index held both kernels in {}\n", rounds, both);
  CHECK(both == rounds);
  CHECK(registry_problems().empty());
}

TEST_CASE("two processes copying into one layout, and fetching into one loader cache, corrupt nothing", "[race]") {
  material();
  const int rounds = std::max(env_int("CKMS_RACE_ROUNDS", 10), 1) / 2 + 1;
  testkit::TempDir dir("ckms-race");
  // One artifact per kernel for the cache, published once.
  std::vector<std::string> releases;
  for (int i = 0; i < 2; ++i) {
    releases.push_back(fmt::format("6.1.0-{}-cache-amd64", i));
    const fs::path file = dir / releases.back() / "racy.ko";
    fs::create_directories(file.parent_path());
    testkit::write_text(file, "cached module " + releases.back() + std::string(300000, 'c'));
    REQUIRE(testkit::run({helper().string(), "publish", registry().host(), "faults/cache", "3.0", releases.back(),
                          file.string()})
                .exit_code == 0);
  }
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    const fs::path layout = dir / fmt::format("layout-{}", round);
    const fs::path cache = dir / fmt::format("cache-{}", round);
    std::vector<pid_t> pids;
    for (int i = 0; i < 2; ++i) {
      pids.push_back(start({testkit::ckms_binary().string(), "--quiet", "copy", "--plain-http",
                            registry().host() + "/faults/src:v1", "oci:" + layout.string() + ":v1"}));
    }
    // Same artifact from both, then one kernel each.
    for (int i = 0; i < 2; ++i) {
      pids.push_back(
          start({helper().string(), "fetch", registry().host(), "faults/cache", "3.0", releases[0], cache.string()}));
    }
    for (const pid_t pid : pids) CHECK(finish(pid) == 0);
    pids.clear();
    for (int i = 0; i < 2; ++i) {
      pids.push_back(
          start({helper().string(), "fetch", registry().host(), "faults/cache", "3.0", releases[i], cache.string()}));
    }
    for (const pid_t pid : pids) CHECK(finish(pid) == 0);
    CHECK(layout_problems(layout).empty());
    CHECK(oci::Layout(layout, oci::Layout::Mode::open_existing).resolve("v1").digest == material().root->digest);
    CHECK(layout_problems(cache).empty());
    loader::ModuleCache shared(cache);
    for (const auto& release : releases) {
      CHECK(shared.resolve(registry().host() + "/faults/cache", "3.0", release).config.kernel_release == release);
    }
    CHECK(shared.artifacts().size() == 2);
  }
}
