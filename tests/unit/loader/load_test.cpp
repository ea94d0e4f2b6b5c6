// load(): what is verified, in which order, and that a refused or failed load leaves the
// kernel, the cache and the state as they were.

#include <fstream>

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/loader/load.hpp"
#include "ckms/loader/state.hpp"
#include "ckms/oci/layout.hpp"
#include "loader_fixture.hpp"
#include "require_error.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;
using testkit::require_error;

namespace {

void flip_a_byte(const fs::path& file) {
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(100);
  char c = 0;
  f.get(c);
  f.seekp(100);
  f.put(static_cast<char>(c ^ 0x20));
}

fs::path layer_blob(const fs::path& layout, const ckms::Digest& digest) {
  return oci::Layout(layout, oci::Layout::Mode::open_existing).blob_path(digest);
}

}  // namespace

TEST_CASE("load verifies, inserts with parameters and records what it did", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-tiny", {{.name = "ckms_tiny", .parameters = {"greeting", "repeat"}}},
            {{"ckms_tiny", {{"greeting", "from-artifact"}, {"repeat", "1"}}}});
  auto request = f.request("ckms-tiny");
  request.parameters = {artifact::ParameterSetting::parse("repeat=3")};

  const auto report = load(request, f.paths, f.kernel);

  REQUIRE(f.kernel.insertions == std::vector<std::string>{"ckms_tiny"});
  CHECK(f.kernel.loaded.at("ckms_tiny").parameters == "greeting=from-artifact repeat=3");
  CHECK(f.kernel.file_inserts == 1);  // an uncompressed module goes in as a file
  CHECK(report.package == "ckms-tiny");
  CHECK(report.kernel_release == kRelease);
  CHECK_FALSE(report.from_cache);
  REQUIRE(report.modules.size() == 1);
  CHECK(report.modules[0].action == ModuleAction::inserted);
  CHECK(report.modules[0].signer == "CN = ckms test trusted");
  CHECK(report.modules[0].parameter_sources ==
        artifact::ParameterValues{{"greeting", "signed default"}, {"repeat", "command line"}});

  StateStore state(f.paths.state_dir);
  const auto record = state.find("ckms_tiny");
  REQUIRE(record);
  CHECK(record->package == "ckms-tiny");
  CHECK(record->parameters.at("repeat") == "3");
  CHECK(record->parameter_sources.at("greeting") == "signed default");
  CHECK(record->manifest == report.manifest);
  ModuleCache cache(f.paths.cache_dir);
  CHECK(cache.layout().resolve(report.cache_name).digest == report.manifest);
}

TEST_CASE("default parameters apply only under a trusted signature", "[loader][security]") {
  LoaderFixture f;
  const auto mode = GENERATE(LoaderFixture::Defaults::unsigned_, LoaderFixture::Defaults::changed_after_signing);
  f.defaults_mode = mode;
  f.publish("ckms-tiny", {{.name = "ckms_tiny", .parameters = {"greeting"}}},
            {{"ckms_tiny", {{"greeting", "from-registry"}}}});
  const std::string before = f.cache_fingerprint();
  for (const bool fetch_only : {false, true}) {
    auto request = f.request("ckms-tiny");
    request.fetch_only = fetch_only;
    if (mode == LoaderFixture::Defaults::unsigned_) {
      require_error([&] { load(request, f.paths, f.kernel); }, ErrorKind::refused, "default parameters are not signed");
    } else {
      require_error([&] { load(request, f.paths, f.kernel); }, ErrorKind::integrity, "default parameters");
    }
  }
  CHECK(f.kernel.insertions.empty());
  CHECK(f.cache_fingerprint() == before);
}

TEST_CASE("a compressed module is decompressed here and inserted as bytes", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-xz", {{.name = "ckms_xz", .compression = kmod::Compression::xz}});
  f.publish("ckms-zst", {{.name = "ckms_zst", .compression = kmod::Compression::zstd}});
  load(f.request("ckms-xz"), f.paths, f.kernel);
  load(f.request("ckms-zst"), f.paths, f.kernel);
  CHECK(f.kernel.insertions == std::vector<std::string>{"ckms_xz", "ckms_zst"});
  CHECK(f.kernel.file_inserts == 0);
  CHECK(kmod::detect_compression(f.kernel.loaded.at("ckms_xz").bytes.substr(0, 8)) == kmod::Compression::none);
}

TEST_CASE("every module is verified before any is inserted", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-two", {{.name = "ckms_first"}, {.name = "ckms_second", .untrusted = true}});
  const std::string before = f.cache_fingerprint();
  require_error([&] { load(f.request("ckms-two"), f.paths, f.kernel); }, ErrorKind::refused, "ckms_second.ko");
  CHECK(f.kernel.insertions.empty());
  CHECK(f.cache_fingerprint() == before);
  CHECK(StateStore(f.paths.state_dir).records().empty());
}

TEST_CASE("unsigned modules and modules without trusted certificates are refused", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-unsigned", {{.name = "ckms_unsigned", .unsigned_module = true}});
  require_error([&] { load(f.request("ckms-unsigned"), f.paths, f.kernel); }, ErrorKind::refused, "ckms_unsigned");

  f.publish("ckms-tiny", {{.name = "ckms_tiny"}});
  auto request = f.request("ckms-tiny");
  request.trust.clear();  // and nothing in the trust directory
  require_error([&] { load(request, f.paths, f.kernel); }, ErrorKind::refused, "no trusted certificates");

  fs::create_directories(f.paths.trust_dir);
  fs::copy_file(keys().trusted_cert, f.paths.trust_dir / "vendor.pem");
  load(request, f.paths, f.kernel);
  CHECK(f.kernel.insertions == std::vector<std::string>{"ckms_tiny"});
}

TEST_CASE("a layer whose bytes do not match its digest is refused and not cached", "[loader]") {
  LoaderFixture f;
  const auto published = f.publish("ckms-tiny", {{.name = "ckms_tiny"}});
  oci::Layout source(f.source("ckms-tiny"), oci::Layout::Mode::open_existing);
  const auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(source, published.manifest), "test");
  flip_a_byte(layer_blob(f.source("ckms-tiny"), manifest.layers.at(0).digest));
  const std::string before = f.cache_fingerprint();
  require_error([&] { load(f.request("ckms-tiny"), f.paths, f.kernel); }, ErrorKind::integrity,
                manifest.layers.at(0).digest.str());
  CHECK(f.kernel.insertions.empty());
  CHECK(f.cache_fingerprint() == before);
}

TEST_CASE("an artifact for another kernel is refused", "[loader]") {
  LoaderFixture f;
  SECTION("asked for another release") {
    f.publish("ckms-tiny", {{.name = "ckms_tiny", .built_for = std::string(kOtherRelease)}}, {},
              std::string(kOtherRelease));
    auto request = f.request("ckms-tiny");
    request.kernel_release = std::string(kOtherRelease);
    require_error([&] { load(request, f.paths, f.kernel); }, ErrorKind::refused, "wrong kernel");
  }
  SECTION("labelled for this kernel, built for another") {
    f.publish("ckms-tiny", {{.name = "ckms_tiny", .built_for = std::string(kOtherRelease)}});
    const std::string before = f.cache_fingerprint();
    require_error([&] { load(f.request("ckms-tiny"), f.paths, f.kernel); }, ErrorKind::refused,
                  "was built for kernel " + std::string(kOtherRelease));
    CHECK(f.cache_fingerprint() == before);
  }
  SECTION("another architecture") {
    f.publish("ckms-tiny", {{.name = "ckms_tiny"}});
    f.kernel.machine_ = "aarch64";
    require_error([&] { load(f.request("ckms-tiny"), f.paths, f.kernel); }, ErrorKind::refused, "wrong architecture");
  }
  SECTION("labelled for this machine, code for another (ELF e_machine)") {
    f.publish("ckms-tiny", {{.name = "ckms_tiny", .machine = EM_AARCH64}});
    const std::string before = f.cache_fingerprint();
    require_error([&] { load(f.request("ckms-tiny"), f.paths, f.kernel); }, ErrorKind::refused,
                  "ckms_tiny.ko (module ckms_tiny) is code for aarch64 (ELF e_machine), this machine is x86_64");
    CHECK(f.cache_fingerprint() == before);
  }
  SECTION("another architecture, fetched only") {
    f.publish("ckms-tiny", {{.name = "ckms_tiny"}});
    f.kernel.machine_ = "aarch64";
    auto request = f.request("ckms-tiny");
    request.fetch_only = true;
    const std::string before = f.cache_fingerprint();
    require_error([&] { load(request, f.paths, f.kernel); }, ErrorKind::refused, "wrong architecture");
    CHECK(f.cache_fingerprint() == before);
  }
  CHECK(f.kernel.insertions.empty());
}

TEST_CASE("--fetch-only --machine: a cache for an arm64 node, checked against its machine", "[loader]") {
  LoaderFixture f;
  f.arch = "aarch64";
  auto request = f.request("ckms-tiny");
  request.machine = "aarch64";
  SECTION("arm64 code for an arm64 node is fetched and verified") {
    f.publish("ckms-tiny", {{.name = "ckms_tiny", .machine = EM_AARCH64}});
    request.fetch_only = true;
    const auto report = load(request, f.paths, f.kernel);
    REQUIRE(report.modules.size() == 1);
    CHECK(report.modules[0].action == ModuleAction::fetched);
    CHECK(report.arch == "aarch64");
  }
  SECTION("labelled aarch64, code for x86_64: refused, the cache as it was") {
    f.publish("ckms-tiny", {{.name = "ckms_tiny"}});
    request.fetch_only = true;
    const std::string before = f.cache_fingerprint();
    require_error([&] { load(request, f.paths, f.kernel); }, ErrorKind::refused,
                  "is code for x86_64 (ELF e_machine), this machine is aarch64");
    CHECK(f.cache_fingerprint() == before);
  }
  SECTION("an insert is always for this machine") {
    f.publish("ckms-tiny", {{.name = "ckms_tiny", .machine = EM_AARCH64}});
    require_error([&] { load(request, f.paths, f.kernel); }, ErrorKind::usage, "only a fetch (--fetch-only)");
  }
  CHECK(f.kernel.insertions.empty());
}

TEST_CASE("--fetch-only fills the cache for another kernel without inserting", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-tiny", {{.name = "ckms_tiny", .built_for = std::string(kOtherRelease)}}, {},
            std::string(kOtherRelease));
  auto request = f.request("ckms-tiny");
  request.kernel_release = std::string(kOtherRelease);
  request.fetch_only = true;
  const auto report = load(request, f.paths, f.kernel);
  CHECK(report.modules.at(0).action == ModuleAction::fetched);
  CHECK(f.kernel.insertions.empty());

  // After a reboot into that kernel, the cache alone is enough.
  f.kernel.release_ = std::string(kOtherRelease);
  fs::remove_all(f.source("ckms-tiny"));
  auto offline = f.request("ckms-tiny");
  offline.network = NetworkMode::offline;
  load(offline, f.paths, f.kernel);
  CHECK(f.kernel.insertions == std::vector<std::string>{"ckms_tiny"});
}

TEST_CASE("a failed insert removes what the load inserted, newest first", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-pair", {{.name = "ckms_a"}, {.name = "ckms_b", .depends = {"ckms_a"}}, {.name = "ckms_c"}});
  f.kernel.fail_init = {"ckms_c"};
  const std::string before = f.cache_fingerprint();
  require_error([&] { load(f.request("ckms-pair"), f.paths, f.kernel); }, ErrorKind::io,
                "rolled back: removed ckms_b, ckms_a");
  CHECK(f.kernel.loaded.empty());
  CHECK(f.kernel.removals == std::vector<std::string>{"ckms_b", "ckms_a"});
  CHECK(f.cache_fingerprint() == before);
  CHECK(StateStore(f.paths.state_dir).records().empty());
}

TEST_CASE("dependencies: inside the artifact, loaded, built in, or missing", "[loader]") {
  LoaderFixture f;
  SECTION("a dependency listed after its user is an integrity error") {
    // The config checks its own order; here only the file's depends= knows.
    f.publish("ckms-order",
              {{.name = "ckms_user", .depends = {"ckms_base"}, .config_lists_depends = false}, {.name = "ckms_base"}});
    require_error([&] { load(f.request("ckms-order"), f.paths, f.kernel); }, ErrorKind::integrity,
                  "needs module ckms_base, which the artifact lists after it");
    CHECK(f.kernel.insertions.empty());
  }
  SECTION("missing everywhere") {
    f.publish("ckms-crc", {{.name = "ckms_crc", .depends = {"crc7"}}});
    require_error([&] { load(f.request("ckms-crc"), f.paths, f.kernel); }, ErrorKind::refused,
                  "missing dependency: module ckms_crc needs crc7");
    CHECK(f.kernel.insertions.empty());
  }
  SECTION("already loaded or built in") {
    f.publish("ckms-crc", {{.name = "ckms_crc", .depends = {"crc7", "crc-itu-t"}}});
    f.kernel.loaded["crc7"] = {};
    f.kernel.builtin = {"crc_itu_t"};
    const auto report = load(f.request("ckms-crc"), f.paths, f.kernel);
    CHECK(report.dependencies_inserted.empty());
    CHECK(f.kernel.insertions == std::vector<std::string>{"ckms_crc"});
  }
  SECTION("one being removed is refused with the reason, not left to fail at insertion") {
    f.publish("ckms-crc", {{.name = "ckms_crc", .depends = {"crc7"}}});
    f.kernel.going = {"crc7"};
    require_error([&] { load(f.request("ckms-crc"), f.paths, f.kernel); }, ErrorKind::refused,
                  "module ckms_crc needs crc7, which is being removed right now");
    CHECK(f.kernel.insertions.empty());
  }
  SECTION("only what the kernel lacks is planned; nothing lacking asks no planner") {
    // The node binary's planner hands the load to ckms-full: it must not be asked when
    // every dependency is loaded.
    f.publish("ckms-crc", {{.name = "ckms_crc", .depends = {"crc7", "crc-itu-t"}}});
    f.kernel.loaded["crc7"] = {};
    const auto request = f.request("ckms-crc");
    const auto source = open_source(request);
    std::vector<std::string> asked;
    const InTreePlanner recording = [&](const fs::path& directory, const std::vector<Dependency>& absent, Kernel&) {
      CHECK(directory == f.paths.modules_root / kRelease);
      for (const auto& dependency : absent) asked.push_back(dependency.name + " for " + dependency.needed_by);
      f.kernel.loaded["crc_itu_t"] = {};  // as if the planner had found it built in
      return std::vector<InTreeModule>{};
    };
    load(request, f.paths, f.kernel, source.get(), recording);
    CHECK(asked == std::vector<std::string>{"crc-itu-t for ckms_crc"});
    f.kernel.loaded.erase("ckms_crc");

    const InTreePlanner never = [](const fs::path&, const std::vector<Dependency>& absent, Kernel&) {
      FAIL("planner asked for " << absent.size() << " dependencies that are loaded");
      return std::vector<InTreeModule>{};
    };
    load(request, f.paths, f.kernel, source.get(), never);
    CHECK(f.kernel.insertions == std::vector<std::string>{"ckms_crc", "ckms_crc"});
  }
}

TEST_CASE("loading what is loaded is a no-op; another build of that name is refused", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-tiny", {{.name = "ckms_tiny", .parameters = {"greeting"}}});
  load(f.request("ckms-tiny"), f.paths, f.kernel);
  const auto again = load(f.request("ckms-tiny"), f.paths, f.kernel);
  CHECK(again.modules.at(0).action == ModuleAction::already_loaded);
  CHECK(f.kernel.insertions.size() == 1);
  // The first load's record holds; parameters asked for now were not applied.
  CHECK(StateStore(f.paths.state_dir).find("ckms_tiny")->inserted);
  auto with_parameter = f.request("ckms-tiny");
  with_parameter.parameters = {artifact::ParameterSetting::parse("greeting=late")};
  const auto third = load(with_parameter, f.paths, f.kernel);
  CHECK(third.modules.at(0).parameters.empty());
  CHECK(StateStore(f.paths.state_dir).find("ckms_tiny")->parameters.empty());

  f.kernel.loaded["ckms_tiny"].srcversion = "FFFFFFFFFFFFFFFFFFFFFFF";
  require_error([&] { load(f.request("ckms-tiny"), f.paths, f.kernel); }, ErrorKind::refused,
                "a different module ckms_tiny is loaded");

  f.kernel.loaded.clear();
  f.kernel.builtin = {"ckms_tiny"};
  require_error([&] { load(f.request("ckms-tiny"), f.paths, f.kernel); }, ErrorKind::refused, "built into");
}

TEST_CASE("offline loads use only the cache", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-tiny", {{.name = "ckms_tiny"}});
  auto offline = f.request("ckms-tiny");
  offline.network = NetworkMode::offline;
  require_error([&] { load(offline, f.paths, f.kernel); }, ErrorKind::not_found, "not in the cache");

  load(f.request("ckms-tiny"), f.paths, f.kernel);
  f.kernel.loaded.clear();
  fs::remove_all(f.source("ckms-tiny"));  // the "registry" is gone
  const auto report = load(offline, f.paths, f.kernel);
  CHECK(report.from_cache);
  CHECK(f.kernel.loaded.contains("ckms_tiny"));

  SECTION("a cached blob that was altered is refused offline and fetched again online") {
    f.kernel.loaded.clear();
    const auto manifest = ModuleCache(f.paths.cache_dir).resolve(repository_key(offline.reference), "1.0.0", kRelease);
    flip_a_byte(ModuleCache(f.paths.cache_dir).layout().blob_path(manifest.config.files.at(0).digest));
    require_error([&] { load(offline, f.paths, f.kernel); }, ErrorKind::integrity, "the cache was altered");
    CHECK(f.kernel.loaded.empty());

    f.publish("ckms-tiny", {{.name = "ckms_tiny"}});
    load(f.request("ckms-tiny"), f.paths, f.kernel);
    CHECK(f.kernel.loaded.contains("ckms_tiny"));
    CHECK(ModuleCache(f.paths.cache_dir).layout().verify().empty());
  }
}

TEST_CASE("fallback: a registry that cannot be reached gives way to the cache", "[loader]") {
  LoaderFixture f;
  const int port = testkit::free_port();
  const auto reference = oci::Reference::parse(fmt::format("127.0.0.1:{}/ckms/tiny:1.0.0", port));
  // Fill the cache under the registry's name, as an earlier online load would have.
  f.publish("ckms-tiny", {{.name = "ckms_tiny"}});
  {
    oci::Layout source(f.source("ckms-tiny"), oci::Layout::Mode::open_existing);
    ModuleCache cache(f.paths.cache_dir);
    const auto resolved = artifact::resolve_module(source, "1.0.0", kRelease);
    Staging staging(cache, &source);
    staging.fetch(resolved);
    staging.commit(resolved, ModuleCache::record_name(repository_key(reference), "1.0.0", kRelease));
  }
  LoadRequest request{.reference = reference};
  request.trust = {keys().trusted_cert};
  request.registry.plain_http = true;
  request.registry.max_attempts = 1;

  require_error([&] { load(request, f.paths, f.kernel); }, ErrorKind::network, "127.0.0.1");
  CHECK(f.kernel.insertions.empty());

  request.network = NetworkMode::fallback;
  const auto report = load(request, f.paths, f.kernel);
  CHECK(report.from_cache);
  CHECK_FALSE(report.fallback_reason.empty());
  CHECK(f.kernel.insertions == std::vector<std::string>{"ckms_tiny"});
}

TEST_CASE("a crashed load's staging directory is removed by the next load", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-tiny", {{.name = "ckms_tiny"}});
  fs::create_directories(f.paths.cache_dir / ".staging-crashed");
  testkit::write_text(f.paths.cache_dir / ".staging-crashed" / ".lock", "4242\n");
  load(f.request("ckms-tiny"), f.paths, f.kernel);
  CHECK_FALSE(fs::exists(f.paths.cache_dir / ".staging-crashed"));
  for (const auto& entry : fs::directory_iterator(f.paths.cache_dir)) {
    CHECK_FALSE(entry.path().filename().string().starts_with(".staging-"));
  }
}

TEST_CASE("build dependencies load first, pinned by digest, and a missing one refuses the load", "[loader]") {
  LoaderFixture f;
  f.shared_layout = "both";
  const auto a = f.publish("ckms-dep-a", {{.name = "ckms_dep_a"}}, {}, std::string(kRelease), "2.0");
  f.build_depends["ckms-dep-b"] = {
      {.name = "ckms-dep-a", .version = "2.0", .repository = "", .manifest = a.manifest.digest}};
  f.publish("ckms-dep-b", {{.name = "ckms_dep_b", .depends = {"ckms_dep_a"}}});

  SECTION("loaded first, and told first") {
    const auto report = load(f.request("ckms-dep-b"), f.paths, f.kernel);
    CHECK(f.kernel.insertions == std::vector<std::string>{"ckms_dep_a", "ckms_dep_b"});
    REQUIRE(report.build_dependencies.size() == 1);
    CHECK(report.build_dependencies[0].package == "ckms-dep-a");
    CHECK(report.build_dependencies[0].manifest == a.manifest.digest);
    CHECK(report.to_json().at("buildDependencies").at(0).at("package") == "ckms-dep-a");
  }
  SECTION("another build of the dependency is refused before anything is inserted") {
    f.publish("ckms-dep-a", {{.name = "ckms_dep_a", .srcversion = "FEDCBA9876543210FEDCBA9"}}, {},
              std::string(kRelease), "2.0");
    const std::string cache = f.cache_fingerprint();
    require_error([&] { load(f.request("ckms-dep-b"), f.paths, f.kernel); }, ErrorKind::refused,
                  "not the " + a.manifest.digest.str() + " it was built against");
    CHECK(f.kernel.insertions.empty());
    CHECK(f.cache_fingerprint() == cache);
  }
  SECTION("missing: one line naming both packages, nothing inserted") {
    f.build_depends["ckms-dep-b"][0].version = "3.0";
    f.publish("ckms-dep-b", {{.name = "ckms_dep_b", .depends = {"ckms_dep_a"}}});
    require_error([&] { load(f.request("ckms-dep-b"), f.paths, f.kernel); }, ErrorKind::refused,
                  "missing build dependency: ckms-dep-b 1.0.0 needs ckms-dep-a 3.0");
    CHECK(f.kernel.insertions.empty());
  }
}

}  // namespace ckms::loader::test
