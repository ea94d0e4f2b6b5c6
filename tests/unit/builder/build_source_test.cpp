#include <catch2/catch.hpp>

#include "ckms/builder/build_source.hpp"
#include "require_error.hpp"
#include "testkit.hpp"

using ckms::builder::looks_like_reference;

TEST_CASE("a build source names an artifact when it looks like a reference", "[build_source]") {
  CHECK(looks_like_reference("oci:out:hello-1.0"));
  CHECK(looks_like_reference("registry.example.com/ckms/hello:1.0"));
  CHECK(looks_like_reference("127.0.0.1:5000/hello:1.0"));
  CHECK(looks_like_reference("localhost/hello:1.0"));
  CHECK_FALSE(looks_like_reference("src/hello"));
  CHECK_FALSE(looks_like_reference("hello"));
  CHECK_FALSE(looks_like_reference("hello.d"));  // no "/": a directory name
}

TEST_CASE("a directory is the source as it is; a missing one is not found", "[build_source]") {
  const ckms::testkit::TempDir dir("ckms-test-");
  ckms::builder::BuildOptions options;
  ckms::builder::place_source(dir.path().string(), dir.path() / "work", options);
  CHECK(options.source_dir == dir.path());
  CHECK_FALSE(options.source_digest.has_value());

  ckms::testkit::require_error(
      [&] { ckms::builder::place_source((dir.path() / "absent").string(), dir.path() / "work", options); },
      ckms::ErrorKind::not_found, "no such directory");
}
