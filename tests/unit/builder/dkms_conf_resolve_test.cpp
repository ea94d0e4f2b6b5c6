#include <catch2/catch.hpp>

#include "ckms/builder/dkms_conf.hpp"

using namespace ckms::builder;

namespace {

DkmsConf resolve(RawVariables raw) {
  DkmsEnvironment env = DkmsEnvironment::for_kernel("6.1.0-56-amd64");
  return resolve_dkms_conf(raw, env);
}

}  // namespace

TEST_CASE("resolve: DKMS defaults for module records") {
  const auto conf = resolve({{"PACKAGE_NAME", {{0, "demo"}}},
                             {"PACKAGE_VERSION", {{0, "1.0"}}},
                             {"BUILT_MODULE_NAME", {{0, "a"}, {1, "b"}}},
                             {"BUILT_MODULE_LOCATION", {{0, "src"}, {1, "lib/"}}},
                             {"DEST_MODULE_NAME", {{1, "b_renamed"}}},
                             {"DEST_MODULE_LOCATION", {{0, "/extra"}, {1, "/kernel/drivers"}}},
                             {"STRIP", {{0, "No"}}}});
  CHECK(conf.errors.empty());
  REQUIRE(conf.modules.size() == 2);
  CHECK(conf.modules[0].built_location == "src/");
  CHECK(conf.modules[0].dest_name == "a");
  CHECK_FALSE(conf.modules[0].strip);
  // STRIP[1] empty: inherits strip[0].
  CHECK_FALSE(conf.modules[1].strip);
  CHECK(conf.modules[1].dest_name == "b_renamed");
  CHECK(conf.modules[1].install_location == "/updates/dkms");
  CHECK(conf.clean == "make -C /lib/modules/6.1.0-56-amd64/build M=/var/lib/dkms/demo/1.0/build clean");
}

TEST_CASE("resolve: STRIP defaults to yes, and odd values strip too") {
  const auto conf = resolve({{"PACKAGE_NAME", {{0, "p"}}},
                             {"PACKAGE_VERSION", {{0, "1"}}},
                             {"BUILT_MODULE_NAME", {{0, "a"}, {1, "b"}, {2, "c"}}},
                             {"DEST_MODULE_LOCATION", {{0, "/extra"}, {1, "/extra"}, {2, "/extra"}}},
                             {"STRIP", {{1, "0"}, {2, "n"}}}});
  CHECK(conf.modules[0].strip);
  CHECK(conf.modules[1].strip);
  CHECK_FALSE(conf.modules[2].strip);
}

TEST_CASE("resolve: BUILT_MODULE_NAME defaults to PACKAGE_NAME only with one DEST_MODULE_LOCATION") {
  const auto one = resolve({{"PACKAGE_NAME", {{0, "bbswitch"}}},
                            {"PACKAGE_VERSION", {{0, "0.8"}}},
                            {"DEST_MODULE_LOCATION", {{0, "/kernel/drivers/acpi"}}}});
  REQUIRE(one.modules.size() == 1);
  CHECK(one.modules[0].built_name == "bbswitch");
  CHECK(one.errors.empty());

  const auto two = resolve({{"PACKAGE_NAME", {{0, "p"}}},
                            {"PACKAGE_VERSION", {{0, "1"}}},
                            {"DEST_MODULE_LOCATION", {{0, "/extra"}, {1, "/extra"}}}});
  CHECK(two.errors.size() == 2);
  CHECK(two.errors[0] == "No 'BUILT_MODULE_NAME' directive specified for record #0.");
}

TEST_CASE("resolve: read_conf's errors") {
  const auto conf = resolve({{"BUILT_MODULE_NAME", {{0, "a.ko"}}},
                             {"DEST_MODULE_NAME", {{0, "b.o"}}},
                             {"DEST_MODULE_LOCATION", {{0, "/usr/lib"}}}});
  CHECK(conf.errors == std::vector<std::string>{"'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #0.",
                                                "'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #0.",
                                                "Directive 'DEST_MODULE_LOCATION' does not begin with '/kernel', "
                                                "'/updates', or '/extra' in record #0.",
                                                "No 'PACKAGE_NAME' directive specified.",
                                                "No 'PACKAGE_VERSION' directive specified."});
  const auto empty = resolve({});
  CHECK(empty.errors == std::vector<std::string>{"No 'PACKAGE_NAME' directive specified.",
                                                 "No 'PACKAGE_VERSION' directive specified."});
}

TEST_CASE("resolve: zero modules is DKMS's warning, not an error") {
  const auto conf = resolve({{"PACKAGE_NAME", {{0, "p"}}}, {"PACKAGE_VERSION", {{0, "1"}}}, {"MAKE", {{0, "make"}}}});
  CHECK(conf.modules.empty());
  CHECK(conf.errors.empty());
  CHECK(conf.warnings == std::vector<std::string>{"Zero modules specified."});
  const auto one = resolve(
      {{"PACKAGE_NAME", {{0, "p"}}}, {"PACKAGE_VERSION", {{0, "1"}}}, {"DEST_MODULE_LOCATION", {{0, "/extra"}}}});
  CHECK(one.warnings.empty());
}

TEST_CASE("resolve: sparse arrays lose records as in DKMS, which counts elements") {
  const auto conf = resolve({{"PACKAGE_NAME", {{0, "p"}}},
                             {"PACKAGE_VERSION", {{0, "1"}}},
                             {"BUILT_MODULE_NAME", {{0, "a"}, {2, "c"}}},
                             {"DEST_MODULE_LOCATION", {{0, "/extra"}, {2, "/extra"}}}});
  REQUIRE(conf.modules.size() == 2);
  CHECK(conf.modules[1].built_name.empty());
}

TEST_CASE("resolve: flags, dependencies and ignored directives") {
  const auto conf = resolve({{"PACKAGE_NAME", {{0, "p"}}},
                             {"PACKAGE_VERSION", {{0, "1"}}},
                             {"DEST_MODULE_LOCATION", {{0, "/extra"}}},
                             {"AUTOINSTALL", {{0, "YES"}}},
                             {"BUILD_DEPENDS", {{0, "a b"}, {1, "c"}}},
                             {"REMAKE_INITRD", {{0, "yes"}}},
                             {"POST_INSTALL", {{0, "x.sh"}}}});
  CHECK(conf.autoinstall);
  CHECK_FALSE(conf.no_weak_modules);
  CHECK(conf.build_depends == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(conf.ignored.size() == 2);
  CHECK(conf.ignored[0].name == "POST_INSTALL");
  CHECK(conf.ignored[1].name == "REMAKE_INITRD");
}
