// kill -9 at random moments (fixed seed) during `ckms pull`, `ckms copy` into a layout and
// `ckms source pull` (an unpack), each slowed by a throttling proxy so the kill lands mid-
// transfer. The next run must complete, the layout must pass `ckms verify`, and nothing
// unfinished may sit under a final name. CKMS_CRASH_ROUNDS sets the kills per command.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "background_process.hpp"
#include "ckms/oci/layout.hpp"
#include "fault_proxy.hpp"
#include "faults_support.hpp"

using namespace ckms;
using namespace ckms::faults;
namespace fs = std::filesystem;

namespace {

// Starts ckms, kills it with SIGKILL after `delay`; returns whether it was still running.
bool kill_during(const std::vector<std::string>& args, std::chrono::milliseconds delay) {
  std::vector<std::string> argv = {testkit::ckms_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  testkit::BackgroundProcess process(argv);
  std::this_thread::sleep_for(delay);
  return process.kill();
}

struct CrashTally {
  int kills = 0, completed_after = 0, leftovers = 0;
};

void report(const std::string& what, const CrashTally& t) {
  std::cout << fmt::format("kill -9 {:<24} killed mid-run {:>3}, next run completed {:>3}, hidden leftovers {:>3}\n",
                           what, t.kills, t.completed_after, t.leftovers);
}

constexpr int kLongestDelayMs = 600;

std::vector<std::chrono::milliseconds> delays(unsigned seed, int rounds) {
  std::mt19937 random(seed);
  std::vector<std::chrono::milliseconds> out;
  for (int i = 0; i < rounds; ++i) {
    out.emplace_back(std::uniform_int_distribution<int>(20, kLongestDelayMs)(random));
  }
  return out;
}

// How long the slow proxy needs at least to pass the material's files: the kills land
// mid-run because this exceeds the longest delay, however fast the host is.
std::chrono::milliseconds least_transfer_time(std::size_t bytes_per_second) {
  std::uintmax_t bytes = 0;
  for (const auto& name : material().names) bytes += fs::file_size(material().files_dir / name);
  return std::chrono::milliseconds(bytes * 1000 / bytes_per_second);
}

// Files under a final name (not hidden) that differ from the material's.
std::vector<std::string> wrong_files(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (name.starts_with(".")) continue;
    if (testkit::read_text(entry.path()) != testkit::read_text(material().files_dir / name)) out.push_back(name);
  }
  return out;
}

}  // namespace

TEST_CASE("kill -9 during pull, copy and source unpack: the next run completes and stores verify", "[crash]") {
  material();
  const int rounds = std::max(env_int("CKMS_CRASH_ROUNDS", 4), 1);
  FaultPlan plan;
  plan.fault = Fault::slow;
  plan.slow_bytes_per_second = 2 << 20;
  FaultProxy slow(registry_port(), plan);
  REQUIRE(least_transfer_time(plan.slow_bytes_per_second) > std::chrono::milliseconds(kLongestDelayMs));
  testkit::TempDir dir("ckms-crash");

  SECTION("ckms pull") {
    CrashTally tally;
    int round = 0;
    for (const auto delay : delays(11, rounds)) {
      const fs::path out = dir / fmt::format("pulled-{}", round++);
      const std::vector<std::string> args = {"pull", "--plain-http", slow.authority() + "/faults/src:v1", "-o",
                                             out.string()};
      if (kill_during(args, delay)) ++tally.kills;
      CHECK(wrong_files(out).empty());
      const auto again = run_ckms(args);
      INFO(again.err);
      CHECK(again.exit_code == 0);
      CHECK(wrong_files(out).empty());
      for (const auto& name : material().names) CHECK(fs::exists(out / name));
      if (again.exit_code == 0) ++tally.completed_after;
      tally.leftovers += static_cast<int>(temp_files(out).size());
    }
    report("ckms pull", tally);
    CHECK(tally.kills > 0);
  }

  SECTION("ckms copy into a layout") {
    CrashTally tally;
    int round = 0;
    for (const auto delay : delays(12, rounds)) {
      const fs::path layout = dir / fmt::format("layout-{}", round++);
      const std::vector<std::string> args = {"copy", "--plain-http", slow.authority() + "/faults/src:v1",
                                             "oci:" + layout.string() + ":v1"};
      if (kill_during(args, delay)) ++tally.kills;
      const auto again = run_ckms(args);
      INFO(again.err);
      CHECK(again.exit_code == 0);
      if (again.exit_code == 0) ++tally.completed_after;
      const auto verified = run_ckms({"verify", "oci:" + layout.string()});
      INFO(verified.out << verified.err);
      CHECK(verified.exit_code == 0);
      CHECK(oci::Layout(layout, oci::Layout::Mode::open_existing).resolve("v1").digest == material().root->digest);
      tally.leftovers += static_cast<int>(temp_files(layout / "blobs").size());
      // What the killed runs left is garbage that gc removes.
      CHECK(run_ckms({"verify", "--gc", "oci:" + layout.string()}).exit_code == 0);
      CHECK(temp_files(layout / "blobs").empty());
    }
    report("ckms copy", tally);
    CHECK(tally.kills > 0);
  }

  SECTION("ckms source pull (unpack)") {
    const fs::path tree = dir / "tree";
    fs::create_directories(tree / "src");
    testkit::write_text(tree / "dkms.conf",
                        "PACKAGE_NAME=crashy\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=crashy\nAUTOINSTALL=yes\n");
    std::mt19937 random(5);
    for (int i = 0; i < 64; ++i) {
      std::string bytes(64 << 10, '\0');
      for (char& c : bytes) c = static_cast<char>(random() & 0xff);
      testkit::write_text(tree / "src" / fmt::format("file{}.c", i), bytes);
    }
    const auto pushed =
        run_ckms({"source", "push", "--plain-http", tree.string(), registry().host() + "/faults/source:1.0"});
    INFO(pushed.err);
    REQUIRE(pushed.exit_code == 0);
    CrashTally tally;
    int round = 0;
    for (const auto delay : delays(13, rounds)) {
      const fs::path out = dir / fmt::format("source-{}", round++);
      const std::vector<std::string> args = {
          "source", "pull", "--plain-http", slow.authority() + "/faults/source:1.0", "-o", out.string()};
      if (kill_during(args, delay)) ++tally.kills;
      // Either nothing or the whole tree under the final name.
      if (fs::exists(out) && !fs::is_empty(out))
        CHECK(testkit::read_text(out / "src/file63.c") == testkit::read_text(tree / "src/file63.c"));
      if (fs::exists(out) && !fs::is_empty(out)) {
        ++tally.completed_after;  // the killed run had finished
        continue;
      }
      const auto again = run_ckms(args);
      INFO(again.err);
      CHECK(again.exit_code == 0);
      if (again.exit_code == 0) ++tally.completed_after;
      CHECK(testkit::read_text(out / "src/file63.c") == testkit::read_text(tree / "src/file63.c"));
      CHECK(testkit::read_text(out / "dkms.conf") == testkit::read_text(tree / "dkms.conf"));
    }
    for (const auto& entry : fs::directory_iterator(dir.path())) {
      if (entry.path().filename().string().starts_with(".source-")) ++tally.leftovers;
    }
    report("ckms source pull", tally);
    CHECK(tally.kills > 0);
  }
}

TEST_CASE("a write cut short by a crash does not fail verification, and gc removes it", "[crash]") {
  testkit::TempDir dir("ckms-crash");
  const fs::path layout = dir / "layout";
  const auto pushed = run_ckms({"push", "oci:" + layout.string() + ":v1", "--artifact-type",
                                "application/vnd.ckms.test.v1", (material().files_dir / "small.txt").string()});
  REQUIRE(pushed.exit_code == 0);
  // What AtomicFile leaves when the process dies between mkostemp and rename.
  const fs::path temp = layout / "blobs/sha256" / ("." + std::string(64, 'a') + ".Xy12Zq");
  testkit::write_text(temp, "half a blob");
  const auto verified = run_ckms({"verify", "oci:" + layout.string()});
  INFO(verified.out << verified.err);
  CHECK(verified.exit_code == 0);
  CHECK(run_ckms({"verify", "--gc", "oci:" + layout.string()}).exit_code == 0);
  CHECK_FALSE(fs::exists(temp));
  // A file under a name that is no digest is still reported.
  testkit::write_text(layout / "blobs/sha256/not-a-digest", "x");
  CHECK(run_ckms({"verify", "oci:" + layout.string()}).exit_code != 0);
}
