#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/reference.hpp"

using ckms::oci::Reference;

TEST_CASE("registry references split into host, repository, tag and digest") {
  const auto r = Reference::parse("127.0.0.1:5000/ckms/kernel-build:6.1.0-56-cloud-amd64");
  REQUIRE_FALSE(r.is_layout());
  CHECK(r.registry().registry == "127.0.0.1:5000");
  CHECK(r.registry().repository == "ckms/kernel-build");
  CHECK(r.tag() == "6.1.0-56-cloud-amd64");
  CHECK_FALSE(r.digest().has_value());

  const std::string digest = "sha256:" + std::string(64, 'a');
  const auto d = Reference::parse("registry.example:443/a/b/c:v1@" + digest);
  CHECK(d.registry().repository == "a/b/c");
  CHECK(d.tag() == "v1");
  CHECK(d.digest()->str() == digest);
  CHECK(d.registry().manifest_reference() == digest);
}

TEST_CASE("short names default to docker.io like docker and podman") {
  CHECK(Reference::parse("debian").registry().repository == "library/debian");
  CHECK(Reference::parse("debian").registry().api_host() == "registry-1.docker.io");
  CHECK(Reference::parse("docker://localhost/x:1").registry().registry == "localhost");
  CHECK(Reference::parse("user/repo:tag").registry().registry == "docker.io");
}

TEST_CASE("oci layout references follow skopeo's oci:DIR[:TAG]") {
  const auto r = Reference::parse("oci:/var/lib/ckms:hello-1.0");
  REQUIRE(r.is_layout());
  CHECK(r.layout().directory == "/var/lib/ckms");
  CHECK(r.tag() == "hello-1.0");
  CHECK_FALSE(Reference::parse("oci:out").tag().has_value());
}

TEST_CASE("invalid references are refused with the reason") {
  for (const char* bad : {"", "repo/UPPER", "host:5000/repo:bad tag", "repo@sha256:123", "oci:", "a//b",
                          "host:5000/repo:"
                          "-lead"}) {
    INFO(bad);
    CHECK_THROWS_AS(Reference::parse(bad), ckms::Error);
  }
  CHECK_THROWS_WITH(Reference::parse("r@sha256:12"), Catch::Contains("digest"));
  // Refused by length before the host regex, which would overflow the stack on it.
  CHECK_THROWS_WITH(Reference::parse(std::string(20000, 'a') + ".example/repo"),
                    Catch::Contains("longer than a DNS name"));
  CHECK(Reference::parse(std::string(253, 'a') + ":65535/repo").registry().registry.size() == 259);
}

TEST_CASE("kernel releases become valid tags") {
  CHECK(ckms::oci::sanitize_tag("6.1.0-56-cloud-amd64") == "6.1.0-56-cloud-amd64");
  CHECK(ckms::oci::sanitize_tag("5.14.0-362.el9.x86_64+debug") == "5.14.0-362.el9.x86_64_debug");
  CHECK(ckms::oci::is_valid_tag(ckms::oci::sanitize_tag("+weird/release")));
}
