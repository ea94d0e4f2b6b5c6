#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/builder/dkms_conf_eval.hpp"

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
