#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/builder/dkms_conf_eval.hpp"
#include "testkit.hpp"

using namespace ckms::builder;
using namespace std::string_literals;

TEST_CASE("evaluation output: records and the end marker") {
  const std::string out =
      "v\0PACKAGE_NAME\0"s
      "0\0demo\0"s
      "v\0MAKE\0"s
      "3\0make \"a b\"\nc\0"s
      "end\0"s
      "2\0"s;
  const auto vars = parse_evaluation_output(out, "test");
  CHECK(vars.at("PACKAGE_NAME").at(0) == "demo");
  CHECK(vars.at("MAKE").at(3) == "make \"a b\"\nc");
}

TEST_CASE("evaluation output: truncated, forged or foreign dumps are refused") {
  CHECK_THROWS_AS(parse_evaluation_output("v\0PACKAGE_NAME\0"s
                                          "0\0demo\0"s,
                                          "t"),
                  ckms::Error);
  CHECK_THROWS_AS(parse_evaluation_output("end\0"s
                                          "1\0"s,
                                          "t"),
                  ckms::Error);
  CHECK_THROWS_AS(parse_evaluation_output("v\0PATH\0"s
                                          "0\0/bin\0end\0"s
                                          "1\0"s,
                                          "t"),
                  ckms::Error);
  CHECK_THROWS_AS(parse_evaluation_output("v\0MAKE\0"s
                                          "x\0a\0end\0"s
                                          "1\0"s,
                                          "t"),
                  ckms::Error);
  CHECK_THROWS_AS(parse_evaluation_output("end\0"s
                                          "0\0junk"s,
                                          "t"),
                  ckms::Error);
  CHECK_THROWS_AS(parse_evaluation_output("hello"s, "t"), ckms::Error);
}

TEST_CASE("evaluation script: quotes DKMS's variables and names the file") {
  DkmsEnvironment env = DkmsEnvironment::for_kernel("6.1.0-56-amd64");
  env.module = "it's";
  const std::string script = evaluation_script(env, "/src/x/dkms.conf");
  CHECK(script.find("kernelver='6.1.0-56-amd64'\n") != std::string::npos);
  CHECK(script.find("module='it'\\''s'\n") != std::string::npos);
  CHECK(script.find("__ckms_conf='/src/x/dkms.conf'\n") != std::string::npos);
}

TEST_CASE("conf overrides: NAME=VALUE is one literal assignment, anything else a file") {
  CHECK(conf_override_text("MAKE=make -C $kernel_source_dir V=1 'x'") ==
        "MAKE='make -C $kernel_source_dir V=1 '\\''x'\\'''\n");
  CHECK(conf_override_text("BUILD_EXCLUSIVE_KERNEL[0]=^6") == "BUILD_EXCLUSIVE_KERNEL[0]='^6'\n");
  ckms::testkit::TempDir dir("ckms-test-override");
  ckms::testkit::write_text(dir / "site.conf", "MAKE+=\" W=1\"\n");
  CHECK(conf_override_text((dir / "site.conf").string()) == "MAKE+=\" W=1\"\n");
  for (const char* bad : {"1X=2", "X[a]=1", "X[]=1", "/no/such/file", "no-equals"}) {
    INFO(bad);
    CHECK_THROWS_WITH(conf_override_text(bad), Catch::Contains("--conf-override"));
  }
}

TEST_CASE("evaluation script: overrides are read after dkms.conf, seeing its values, in order") {
  ckms::testkit::TempDir dir("ckms-test-override-eval");
  ckms::testkit::write_text(dir / "dkms.conf",
                            "PACKAGE_NAME=demo\nPACKAGE_VERSION=1\nMAKE=\"make one\"\nCLEAN=\"make clean\"\n");
  ckms::testkit::write_text(dir / "1.conf", "MAKE=\"$MAKE two\"\n");
  ckms::testkit::write_text(dir / "2.conf", conf_override_text("PACKAGE_VERSION=2.0"));
  DkmsEnvironment env = DkmsEnvironment::for_kernel("6.1.0-56-amd64");
  const std::string script =
      evaluation_script(env, (dir / "dkms.conf").string(), {(dir / "1.conf").string(), (dir / "2.conf").string()});
  const auto result = ckms::testkit::run({"bash", "-c", script});
  REQUIRE(result.exit_code == 0);
  const auto vars = parse_evaluation_output(result.out, "test");
  CHECK(vars.at("MAKE").at(0) == "make one two");
  CHECK(vars.at("CLEAN").at(0) == "make clean");
  CHECK(vars.at("PACKAGE_VERSION").at(0) == "2.0");
}
