// BUILD_DEPENDS between two real modules, built in the sandbox against Debian's headers:
// ckms-dep-a exports a symbol, ckms-dep-b calls it. B is built against A's artifact
// (`--depends`), so modpost knows the symbol; without it DKMS's refusal; the artifacts
// carry Module.symvers and the dependency; a dependency built against its dependent is
// circular.

#include <catch2/catch.hpp>

#include "build_fixture.hpp"
#include "ckms/artifact/module_artifact.hpp"
#include "ckms/oci/layout.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder::test;

namespace {

void write_package(const fs::path& dir, const std::string& name, const std::string& module, const std::string& code,
                   const std::string& extra_conf) {
  fs::create_directories(dir);
  ckms::testkit::write_text(dir / "dkms.conf", "PACKAGE_NAME=" + name + "\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=" +
                                                   module + "\nDEST_MODULE_LOCATION[0]=/updates\n" + extra_conf);
  ckms::testkit::write_text(dir / "Makefile", "obj-m := " + module + ".o\n");
  ckms::testkit::write_text(dir / (module + ".c"), "// SPDX-License-Identifier: GPL-2.0\n#include <linux/module.h>\n" +
                                                       code + "MODULE_LICENSE(\"GPL\");\n");
}

const std::string kExports =
    "int ckms_dep_answer(void) { return 42; }\nEXPORT_SYMBOL_GPL(ckms_dep_answer);\n"
    "static int __init a_init(void) { return 0; }\nstatic void __exit a_exit(void) {}\n"
    "module_init(a_init);\nmodule_exit(a_exit);\n";
const std::string kUses =
    "int ckms_dep_answer(void);\n"
    "static int __init b_init(void) { return ckms_dep_answer() == 42 ? 0 : -EINVAL; }\n"
    "static void __exit b_exit(void) {}\nmodule_init(b_init);\nmodule_exit(b_exit);\n";

ckms::artifact::ResolvedModule published(const fs::path& layout, const std::string& kernel) {
  ckms::oci::Layout target(layout, ckms::oci::Layout::Mode::open_existing);
  return ckms::artifact::resolve_module(target, "1.0", kernel);
}

std::string log_of(const BuildRun& run, const std::string& kernel) {
  return ckms::testkit::read_text(run.kernel(kernel).at("log").get<std::string>());
}

}  // namespace

TEST_CASE("BUILD_DEPENDS: built against the dependency's artifact, recorded, refused when missing",
          "[build][dkms-conf][depends]") {
  const auto& f = build_fixture();
  const std::string& kernel = f.releases[1];
  ckms::testkit::TempDir dir("ckms-test-build-depends");
  const auto build = [&](const fs::path& src, const std::string& out, std::vector<std::string> more = {}) {
    std::vector<std::string> a = {src.string(),
                                  "--output",
                                  "oci:" + (dir / out).string(),
                                  "-k",
                                  kernel,
                                  "--image-template",
                                  f.image_template(),
                                  "--no-sign",
                                  "--cache-dir",
                                  f.cache_dir.string()};
    a.insert(a.end(), more.begin(), more.end());
    return ckms_build_json(a);
  };

  write_package(dir / "a", "ckms-dep-a", "ckms_dep_a", kExports, "");
  write_package(dir / "b", "ckms-dep-b", "ckms_dep_b", kUses, "BUILD_DEPENDS=(ckms-dep-a)\n");
  write_package(dir / "b-undeclared", "ckms-dep-b", "ckms_dep_b", kUses, "");

  // A: its Module.symvers is a layer of the artifact, naming the exported symbol.
  const BuildRun a = build(dir / "a", "out-a");
  INFO(a.result.out << a.result.err);
  REQUIRE(a.result.exit_code == 0);
  const auto artifact_a = published(dir / "out-a", kernel);
  REQUIRE(artifact_a.config.symvers.has_value());
  CHECK(artifact_a.manifest.layers.size() == 2);
  const fs::path symvers = dir / "a.symvers";
  {
    ckms::oci::Layout target(dir / "out-a", ckms::oci::Layout::Mode::open_existing);
    ckms::artifact::fetch_symvers(target, artifact_a, symvers);
  }
  CHECK(ckms::testkit::read_text(symvers).find("\tckms_dep_answer\t") != std::string::npos);

  // B without its dependency: DKMS's refusal, nothing published.
  const BuildRun missing = build(dir / "b", "out-b");
  CHECK(missing.result.exit_code == 1);
  CHECK(missing.kernel(kernel).at("reason").get<std::string>().find(
            "Aborting build of module ckms-dep-b/1.0 for kernel " + kernel +
            " (x86_64) due to missing BUILD_DEPENDS: ckms-dep-a.") != std::string::npos);
  CHECK(ckms::oci::Layout(dir / "out-b", ckms::oci::Layout::Mode::open_existing).tags().empty());

  // The control: the same module built with no symbols for modpost warns that it is undefined.
  const BuildRun undeclared = build(dir / "b-undeclared", "out-undeclared");
  CHECK(log_of(undeclared, kernel).find("\"ckms_dep_answer\" [") != std::string::npos);
  CHECK(log_of(undeclared, kernel).find("undefined!") != std::string::npos);

  // With --depends: modpost resolves the symbol; the artifact records A by digest; modinfo
  // says the module depends on A's module.
  const std::vector<std::string> depends = {"--depends", "oci:" + (dir / "out-a").string() + ":1.0"};
  const BuildRun b = build(dir / "b", "out-b", depends);
  INFO(b.result.out << b.result.err);
  REQUIRE(b.result.exit_code == 0);
  const std::string log = log_of(b, kernel);
  CHECK(log.find("KBUILD_EXTRA_SYMBOLS=/var/lib/dkms/ckms-dep-a/1.0/" + kernel + "/x86_64/module/Module.symvers") !=
        std::string::npos);
  CHECK(log.find("undefined!") == std::string::npos);
  const auto artifact_b = published(dir / "out-b", kernel);
  REQUIRE(artifact_b.config.build_depends.size() == 1);
  CHECK(artifact_b.config.build_depends[0].name == "ckms-dep-a");
  CHECK(artifact_b.config.build_depends[0].version == "1.0");
  CHECK(artifact_b.config.build_depends[0].manifest == artifact_a.manifest_descriptor.digest);
  CHECK(artifact_b.config.files.at(0).depends == std::vector<std::string>{"ckms_dep_a"});
  CHECK(b.kernel(kernel).at("buildDepends").at(0).at("name") == "ckms-dep-a");

  // Again: up to date (the dependency's digest is part of the cache key).
  CHECK(build(dir / "b", "out-b", depends).kernel(kernel).at("status") == "up-to-date");

  // A built against B, which was built against A: circular.
  const BuildRun circular = build(dir / "a", "out-a2", {"--depends", "oci:" + (dir / "out-b").string() + ":1.0"});
  CHECK(circular.result.exit_code == 1);
  CHECK(circular.kernel(kernel).at("reason").get<std::string>().find("circular BUILD_DEPENDS") != std::string::npos);
}
