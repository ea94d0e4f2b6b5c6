#include <catch2/catch.hpp>

#include "ckms/artifact/module_parameters.hpp"
#include "ckms/base/error.hpp"

namespace ckms::artifact {
namespace {

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  FAIL("no error");
  return ErrorKind::internal;
}

const std::map<std::string, std::vector<std::string>> kDeclared{{"ckms_a", {"greeting", "repeat"}},
                                                                {"ckms_b", {"repeat", "fail_init"}}};

}  // namespace

TEST_CASE("parameter settings parse as [MODULE.]NAME=VALUE", "[loader]") {
  const auto plain = ParameterSetting::parse("greeting=hello world");
  CHECK(plain.module.empty());
  CHECK(plain.name == "greeting");
  CHECK(plain.value == "hello world");
  const auto qualified = ParameterSetting::parse("ckms-b.fail-init=1");
  CHECK(qualified.module == "ckms_b");
  CHECK(qualified.name == "fail_init");
  CHECK(ParameterSetting::parse("x=").value.empty());
  CHECK(ParameterSetting::parse("ckms_a.greeting=a=b").value == "a=b");

  for (const char* bad : {"novalue", "=1", "a b=1", "mod.=1", ".x=1", "x=say \"hi\"", "x=line\nbreak"}) {
    INFO(bad);
    CHECK(kind_of([&] { ParameterSetting::parse(bad); }) == ErrorKind::usage);
  }
}

TEST_CASE("settings override the artifact's defaults, checked against modinfo", "[loader]") {
  const auto resolved =
      resolve_parameters({ParameterSetting::parse("greeting=hi"), ParameterSetting::parse("ckms_b.repeat=2")},
                         kDeclared, {{"ckms_a", {{"greeting", "default"}, {"repeat", "1"}}}});
  CHECK(resolved.at("ckms_a") == ParameterValues{{"greeting", "hi"}, {"repeat", "1"}});
  CHECK(resolved.at("ckms_b") == ParameterValues{{"repeat", "2"}});

  SECTION("a name two modules declare needs its module") {
    try {
      resolve_parameters({ParameterSetting::parse("repeat=2")}, kDeclared, {});
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::usage);
      CHECK_THAT(e.what(), Catch::Contains("ckms_a and ckms_b"));
    }
  }
  SECTION("unknown names are refused, saying which exist") {
    try {
      resolve_parameters({ParameterSetting::parse("colour=red")}, kDeclared, {});
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Catch::Contains("ckms_a.greeting"));
    }
    CHECK(kind_of([] { resolve_parameters({ParameterSetting::parse("ckms_a.fail_init=1")}, kDeclared, {}); }) ==
          ErrorKind::usage);
    CHECK(kind_of([] { resolve_parameters({ParameterSetting::parse("ckms_z.repeat=1")}, kDeclared, {}); }) ==
          ErrorKind::usage);
  }
  SECTION("a default the module does not declare is the artifact's fault") {
    CHECK(kind_of([] {
            resolve_parameters({}, kDeclared, {{"ckms_a", {{"colour", "red"}}}});
          }) == ErrorKind::integrity);
  }
}

TEST_CASE("kernel parameter strings quote values with spaces", "[loader]") {
  CHECK(kernel_parameters({}).empty());
  CHECK(kernel_parameters({{"greeting", "hello world"}, {"repeat", "3"}}) == "greeting=\"hello world\" repeat=3");
}

}  // namespace ckms::artifact
