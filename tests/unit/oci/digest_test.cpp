#include <catch2/catch.hpp>

#include "ckms/base/digest.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/verifying_reader.hpp"

using ckms::Digest;

TEST_CASE("digests of known content match the published vectors") {
  CHECK(ckms::digest_of("").str() == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(ckms::digest_of("abc", ckms::DigestAlgorithm::sha512).hex().substr(0, 16) == "ddaf35a193617aba");
}

TEST_CASE("hashing in pieces equals hashing at once") {
  ckms::Hasher hasher;
  hasher.update("hello ");
  hasher.update("world");
  CHECK(hasher.bytes_seen() == 11);
  CHECK(hasher.finish() == ckms::digest_of("hello world"));
}

TEST_CASE("malformed digests are refused with the input named") {
  for (const char* bad : {"", "sha256", "sha256:abc", "md5:d41d8cd98f00b204e9800998ecf8427e",
                          "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"}) {
    CHECK_FALSE(Digest::try_parse(bad).has_value());
  }
  try {
    Digest::parse("sha256:xyz");
    FAIL("parse accepted a bad digest");
  } catch (const ckms::Error& e) {
    CHECK(std::string(e.what()).find("sha256:xyz") != std::string::npos);
    CHECK(e.kind() == ckms::ErrorKind::usage);
  }
}

TEST_CASE("a verifying reader rejects content that differs from its digest") {
  ckms::StringReader inner("tampered");
  ckms::oci::VerifyingReader reader(inner, ckms::digest_of("original"), 8, "blob X");
  CHECK_THROWS_WITH(ckms::read_all(reader, 100, "blob X"), Catch::Contains("blob X"));
}

TEST_CASE("a verifying reader rejects more bytes than declared") {
  ckms::StringReader inner("0123456789");
  ckms::oci::VerifyingReader reader(inner, ckms::digest_of("0123456789"), 4, "blob Y");
  CHECK_THROWS_AS(ckms::read_all(reader, 100, "blob Y"), ckms::Error);
}
