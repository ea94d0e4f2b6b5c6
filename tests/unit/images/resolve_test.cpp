#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/images/resolve.hpp"

using ckms::images::image_reference;

TEST_CASE("a release goes into the template as a tag") {
  CHECK(image_reference("registry.example:5000/ckms/kernel-build:{release}", "6.1.0-56-cloud-amd64") ==
        "registry.example:5000/ckms/kernel-build:6.1.0-56-cloud-amd64");
  CHECK(image_reference("oci:/var/lib/ckms/images:{release}", "6.1.0-56-amd64") ==
        "oci:/var/lib/ckms/images:6.1.0-56-amd64");
}

TEST_CASE("characters a tag cannot hold become underscores") {
  CHECK(image_reference("r.example/k:{release}", "6.1.0+deb12~rc1") == "r.example/k:6.1.0_deb12_rc1");
}

TEST_CASE("templates without the placeholder or giving no reference are usage errors") {
  CHECK_THROWS_WITH(image_reference("r.example/k:latest", "6.1.0"), Catch::Contains("{release}"));
  CHECK_THROWS_WITH(image_reference("UPPER/Case:{release}", "6.1.0"), Catch::Contains("6.1.0"));
  CHECK_THROWS_AS(image_reference("r.example/k:{release}", ""), ckms::Error);
}
