// collect_garbage(): the cache keeps what an install record, a loaded module or a
// modules.d entry for an installed kernel needs, and loses the rest, blobs included.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/loader/gc.hpp"
#include "ckms/loader/install_records.hpp"
#include "ckms/loader/load.hpp"
#include "loader_fixture.hpp"
#include "require_error.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;

namespace {

struct GcSetup {
  LoaderFixture f;
  GcPaths paths;

  GcSetup() {
    paths = GcPaths{.root = f.dir / "root",
                    .cache_dir = f.paths.cache_dir,
                    .records_dir = f.dir / "installed",
                    .state_dir = f.paths.state_dir,
                    .config_dir = f.dir / "root/etc/ckms/modules.d"};
    fs::create_directories(paths.root / "lib/modules" / kRelease);
    fs::create_directories(paths.config_dir);
  }

  // Publishes `package` (for `release`) and fetches it into the cache only.
  LoadReport fetch(const std::string& package, std::string_view release = kRelease) {
    const std::string module = package.substr(package.find('-') + 1);
    f.publish(package, {{.name = "ckms_" + module, .built_for = std::string(release)}}, {}, std::string(release));
    auto request = f.request(package);
    request.fetch_only = true;
    request.kernel_release = std::string(release);
    return load(request, f.paths, f.kernel);
  }

  void configure(const std::string& package) {
    testkit::write_text(paths.config_dir / (package + ".yaml"),
                        fmt::format("artifact: oci:{}:1.0.0\n", f.source(package).string()));
  }

  std::vector<std::string> cached_packages() {
    std::vector<std::string> names;
    for (const auto& a : ModuleCache(f.paths.cache_dir).artifacts()) names.push_back(a.config.name);
    std::sort(names.begin(), names.end());
    return names;
  }
};

std::vector<std::string> names_of(const std::vector<GcArtifact>& artifacts) {
  std::vector<std::string> names;
  for (const auto& a : artifacts) names.push_back(a.name.substr(a.name.rfind('/') + 1));
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("gc keeps what is installed, loaded or configured for an installed kernel", "[loader][gc]") {
  GcSetup s;
  s.f.publish("ckms-loaded", {{.name = "ckms_loaded"}});
  load(s.f.request("ckms-loaded"), s.f.paths, s.f.kernel);
  const auto installed = s.fetch("ckms-installed");
  InstallRecords records(s.paths.records_dir);
  records.write(InstallRecord{.package = "ckms-installed",
                              .version = "1.0.0",
                              .kernel_release = std::string(kRelease),
                              .arch = "x86_64",
                              .source = installed.source,
                              .manifest = installed.manifest,
                              .files = {},
                              .installed_at = "2026-12-07T00:00:00Z"});
  s.fetch("ckms-configured");
  s.configure("ckms-configured");
  s.fetch("ckms-elsewhere", kOtherRelease);  // configured, but its kernel is not installed
  s.configure("ckms-elsewhere");
  s.fetch("ckms-unused");
  REQUIRE(s.cached_packages().size() == 5);

  const std::string before = s.f.cache_fingerprint();
  const auto dry = collect_garbage(s.paths, true);
  CHECK(s.f.cache_fingerprint() == before);
  CHECK(names_of(dry.removed) == std::vector<std::string>{"ckms-elsewhere:1.0.0-" + std::string(kOtherRelease),
                                                          "ckms-unused:1.0.0-" + std::string(kRelease)});
  CHECK(dry.kept.size() == 3);
  // Each removed artifact's manifest, config and one layer.
  CHECK(dry.blobs == 6);

  const auto done = collect_garbage(s.paths, false);
  CHECK(names_of(done.removed) == names_of(dry.removed));
  CHECK(done.blobs == dry.blobs);
  CHECK(s.cached_packages() == std::vector<std::string>{"ckms-configured", "ckms-installed", "ckms-loaded"});
  CHECK(oci::Layout(s.f.paths.cache_dir, oci::Layout::Mode::open_existing).verify().empty());

  // Again: nothing left to remove.
  const auto again = collect_garbage(s.paths, false);
  CHECK(again.removed.empty());
  CHECK(again.blobs == 0);
}

TEST_CASE("gc removes nothing when a modules.d file cannot be read", "[loader][gc]") {
  GcSetup s;
  s.fetch("ckms-unused");
  testkit::write_text(s.paths.config_dir / "broken.yaml", "artifact: [\n");
  const std::string before = s.f.cache_fingerprint();
  testkit::require_error([&] { collect_garbage(s.paths, false); }, ErrorKind::usage, "broken.yaml");
  CHECK(s.f.cache_fingerprint() == before);
}

}  // namespace ckms::loader::test
