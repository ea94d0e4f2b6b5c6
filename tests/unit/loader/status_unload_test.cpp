// status and unload read the records load wrote, and check them against the kernel.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/base/time.hpp"
#include "ckms/loader/load.hpp"
#include "ckms/loader/status.hpp"
#include "ckms/loader/unload.hpp"
#include "loader_fixture.hpp"

namespace ckms::loader::test {

namespace {

std::vector<std::string> lines(const std::vector<StatusEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.line());
  return out;
}

}  // namespace

TEST_CASE("status: one dkms-like line per module, from records, the kernel and the cache", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-pair", {{.name = "ckms_a"}, {.name = "ckms_b", .depends = {"ckms_a"}}});
  f.publish("ckms-tiny", {{.name = "ckms_tiny"}});
  load(f.request("ckms-pair"), f.paths, f.kernel);
  load(f.request("ckms-tiny"), f.paths, f.kernel);
  StateStore state(f.paths.state_dir);
  ModuleCache cache(f.paths.cache_dir);
  const std::string tail = ", " + std::string(kRelease) + ", x86_64: ";

  CHECK(lines(status(state, &cache, f.kernel)) == std::vector<std::string>{"ckms_a/1.0.0" + tail + "loaded",
                                                                           "ckms_b/1.0.0" + tail + "loaded",
                                                                           "ckms_tiny/1.0.0" + tail + "loaded"});

  // Behind ckms's back: one module removed, one replaced by another build.
  f.kernel.loaded.erase("ckms_tiny");
  f.kernel.loaded.at("ckms_b").srcversion = "FFFFFFFFFFFFFFFFFFFFFFF";
  const auto entries = status(state, &cache, f.kernel);
  CHECK(lines(entries) == std::vector<std::string>{"ckms_a/1.0.0" + tail + "loaded", "ckms_b/1.0.0" + tail + "changed",
                                                   "ckms_tiny/1.0.0" + tail + "not-loaded"});
  CHECK(entries[0].to_json()["record"]["package"] == "ckms-pair");

  // Unloaded: the cache still has it.
  f.kernel.loaded.at("ckms_b").srcversion = "0123456789ABCDEF0123456";
  unload({"ckms-pair", "ckms_tiny"}, state, f.kernel);
  CHECK(lines(status(state, &cache, f.kernel)) == std::vector<std::string>{"ckms_a/1.0.0" + tail + "cached",
                                                                           "ckms_b/1.0.0" + tail + "cached",
                                                                           "ckms_tiny/1.0.0" + tail + "cached"});
  CHECK(status(state, nullptr, f.kernel).empty());
}

TEST_CASE("unload removes users before what they use, and only what ckms loaded", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-pair", {{.name = "ckms_a"}, {.name = "ckms_b", .depends = {"ckms_a"}}});
  load(f.request("ckms-pair"), f.paths, f.kernel);
  StateStore state(f.paths.state_dir);

  SECTION("by package") {
    const auto report = unload({"ckms-pair"}, state, f.kernel);
    CHECK(report.removed == std::vector<std::string>{"ckms_b", "ckms_a"});
    CHECK(f.kernel.loaded.empty());
    CHECK(state.records().empty());
  }
  SECTION("a module in use stays, with its record") {
    try {
      unload({"ckms_a"}, state, f.kernel);
      FAIL("removed a module in use");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::refused);
    }
    CHECK(f.kernel.loaded.contains("ckms_a"));
    CHECK(state.find("ckms_a"));
  }
  SECTION("a module already gone only loses its record") {
    f.kernel.loaded.clear();
    const auto report = unload({}, state, f.kernel);
    CHECK(report.already_gone.size() == 2);
    CHECK(state.records().empty());
  }
  SECTION("names ckms did not load are not found") {
    f.kernel.loaded["e1000"] = {};
    try {
      unload({"e1000"}, state, f.kernel);
      FAIL("removed a module ckms did not load");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::not_found);
    }
    CHECK(f.kernel.loaded.contains("e1000"));
  }
}

TEST_CASE("records survive a round trip and refuse what is not one", "[loader]") {
  testkit::TempDir dir("ckms-test-");
  StateStore state(dir.path());
  ModuleRecord record{.module = "ckms_tiny",
                      .package = "ckms-tiny",
                      .version = "1.0.0",
                      .kernel_release = std::string(kRelease),
                      .arch = "x86_64",
                      .source = "r.example/ckms/tiny:1.0.0",
                      .cache_name = "r.example/ckms/tiny:1.0.0-6.1.0-56-cloud-amd64",
                      .manifest = ckms::digest_of("m"),
                      .file = "ckms_tiny.ko",
                      .file_digest = ckms::digest_of("f"),
                      .parameters = {{"greeting", "hi"}},
                      .dependencies_inserted = {"crc7"},
                      .loaded_at = ckms::rfc3339_now(),
                      .boot_id = current_boot_id()};
  state.write(record);
  const auto back = state.find("ckms_tiny");
  REQUIRE(back);
  CHECK(back->to_json() == record.to_json());

  testkit::write_text(dir / "modules" / "broken.json", R"({"module": "x"})");
  CHECK_THROWS_AS(state.records(), Error);
  testkit::write_text(dir / "modules" / "broken.json", R"({"module": "../etc"})");
  CHECK_THROWS_AS(state.records(), Error);
  CHECK_THROWS_AS(state.find("../../etc/passwd"), Error);
}

}  // namespace ckms::loader::test
