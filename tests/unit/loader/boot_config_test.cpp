#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/loader/boot_config.hpp"
#include "loader_fixture.hpp"
#include "testkit.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;

namespace {

std::string error_of(const fs::path& file) {
  try {
    read_boot_entry(file);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::usage);
    return e.what();
  }
  FAIL("accepted " << file);
  return {};
}

}  // namespace

TEST_CASE("a boot config file names an artifact, its trust, parameters and network mode", "[loader]") {
  testkit::TempDir dir("ckms-test-");
  testkit::write_text(dir / "hello.yaml",
                      "artifact: registry.example.com/ckms/hello:1.0.0\n"
                      "trust: [/etc/ckms/vendor.pem, /etc/ckms/more.d]\n"
                      "parameters:\n"
                      "  greeting: hello there\n"
                      "  ckms_hello.repeat: 2\n"
                      "network: offline\n"
                      "registry:\n"
                      "  plain-http: true\n"
                      "  ca-cert: /etc/ckms/ca.pem\n");
  const auto entry = read_boot_entry(dir / "hello.yaml");
  CHECK(entry.request.reference.str() == "registry.example.com/ckms/hello:1.0.0");
  CHECK(entry.request.trust == std::vector<fs::path>{"/etc/ckms/vendor.pem", "/etc/ckms/more.d"});
  REQUIRE(entry.request.parameters.size() == 2);
  CHECK(entry.request.parameters[0].str() == "greeting=hello there");
  CHECK(entry.request.parameters[1].str() == "ckms_hello.repeat=2");
  CHECK(entry.request.network == NetworkMode::offline);
  CHECK(entry.request.registry.plain_http);
  CHECK(entry.request.registry.ca_cert == fs::path("/etc/ckms/ca.pem"));
  CHECK(entry.enabled);

  testkit::write_text(dir / "minimal.yaml", "artifact: registry.example.com/ckms/hello:1.0.0\n");
  CHECK(read_boot_entry(dir / "minimal.yaml").request.network == NetworkMode::fallback);
}

TEST_CASE("mistakes in a boot config name the file, line and key", "[loader]") {
  testkit::TempDir dir("ckms-test-");
  const auto check = [&](const std::string& text, const std::string& needle) {
    testkit::write_text(dir / "bad.yaml", text);
    const std::string message = error_of(dir / "bad.yaml");
    INFO(message);
    CHECK_THAT(message, Catch::Contains((dir / "bad.yaml").string()));
    CHECK_THAT(message, Catch::Contains(needle));
  };
  check("artifact: r.example/ckms/hello:1.0.0\nparamters:\n  a: b\n", ":2: 'paramters': unknown key");
  check("artifact: r.example/ckms/hello:1.0.0\nnetwork: sometimes\n", "'network': 'sometimes' is not");
  check("artifact: r.example/ckms/hello\n", "'artifact': needs the module version");
  check("artifact: 'Not A Reference:1'\n", "'artifact'");
  check("trust: /x\n", "'artifact' is missing");
  check("artifact: r.example/ckms/hello:1.0.0\ntrust: relative.pem\n", "must be an absolute path");
  check("artifact: r.example/ckms/hello:1.0.0\nparameters:\n  bad name: 1\n", "'parameters.bad name'");
  check("artifact: r.example/ckms/hello:1.0.0\nparameters: [a, b]\n", "must be a map");
  check("artifact: r.example/ckms/hello:1.0.0\nregistry:\n  plain_http: true\n", "'registry.plain_http': unknown key");
  check("artifact: r.example/ckms/hello:1.0.0\nenabled: maybe\n", "'enabled'");
  check("artifact: [unclosed\n", "not YAML");
}

TEST_CASE("load_boot_config loads every enabled file and reports each failure by file", "[loader]") {
  LoaderFixture f;
  f.publish("ckms-tiny", {{.name = "ckms_tiny", .parameters = {"greeting"}}});
  f.publish("ckms-other", {{.name = "ckms_other", .untrusted = true}});
  const fs::path dir = f.dir / "modules.d";
  fs::create_directories(dir);
  testkit::write_text(dir / "10-tiny.yaml", fmt::format("artifact: oci:{}:1.0.0\nparameters:\n  greeting: boot\n",
                                                        f.source("ckms-tiny").string()));
  testkit::write_text(dir / "20-other.yaml", fmt::format("artifact: oci:{}:1.0.0\n", f.source("ckms-other").string()));
  testkit::write_text(dir / "30-broken.yaml", "artifact: oci:/nowhere:1.0.0\nbogus: 1\n");
  testkit::write_text(dir / "40-off.yaml", "artifact: oci:/nowhere:1.0.0\nenabled: false\n");
  testkit::write_text(dir / "README", "not a config\n");

  const auto results = load_boot_config(dir, {keys().trusted_cert}, f.paths, f.kernel);
  REQUIRE(results.size() == 4);
  REQUIRE(results[0].report);
  CHECK(f.kernel.loaded.at("ckms_tiny").parameters == "greeting=boot");
  REQUIRE(results[1].error);
  CHECK(results[1].error->kind() == ErrorKind::refused);
  CHECK_THAT(results[1].error->what(), Catch::StartsWith((dir / "20-other.yaml").string()));
  REQUIRE(results[2].error);
  CHECK(results[2].error->kind() == ErrorKind::usage);
  CHECK_THAT(results[2].error->what(), Catch::Contains("'bogus'"));
  CHECK(results[3].skipped);
  CHECK(f.kernel.insertions == std::vector<std::string>{"ckms_tiny"});
}

}  // namespace ckms::loader::test
