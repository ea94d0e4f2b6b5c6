#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/images/deb.hpp"
#include "ckms/images/debian_packages.hpp"

using ckms::images::parse_control_fields;
using ckms::images::parse_depends;

TEST_CASE("control fields keep continuation lines and trim values") {
  const auto fields = parse_control_fields(
      "Package: linux-headers-6.1.0-56-cloud-amd64\n"
      "Version:  6.1.192-2 \n"
      "Description: Header files\n"
      " for Linux\n"
      " .\n"
      "\n"
      "Package: ignored-second-paragraph\n",
      "test");
  CHECK(fields.at("Package") == "linux-headers-6.1.0-56-cloud-amd64");
  CHECK(fields.at("Version") == "6.1.192-2");
  CHECK(fields.at("Description") == "Header files\nfor Linux\n.");
}

TEST_CASE("malformed control text is refused naming the package") {
  CHECK_THROWS_WITH(parse_control_fields(" leading continuation\n", "pkg.deb"),
                    Catch::Contains("pkg.deb") && Catch::Contains("line 1"));
  CHECK_THROWS_WITH(parse_control_fields("Package x\n", "pkg.deb"), Catch::Contains("line 1"));
}

TEST_CASE("Depends of a real headers package") {
  const auto depends = parse_depends(
      "linux-headers-6.1.0-56-common (= 6.1.192-2), linux-kbuild-6.1 (>= 6.1.192-2), "
      "linux-compiler-gcc-12-x86, libc6:any | libc6.1, gcc-12 (>=12.2)",
      "test");
  REQUIRE(depends.size() == 5);
  CHECK(depends[0].package == "linux-headers-6.1.0-56-common");
  CHECK(depends[0].relation == "=");
  CHECK(depends[0].version == "6.1.192-2");
  CHECK(depends[1].relation == ">=");
  CHECK(depends[2].relation.empty());
  CHECK(depends[3].package == "libc6");
  CHECK(depends[4].version == "12.2");
  CHECK_THROWS_AS(parse_depends("foo (= 1", "test"), ckms::Error);
}
