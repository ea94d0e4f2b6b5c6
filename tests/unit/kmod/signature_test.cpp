// The appended-signature trailer: splitting, and refusing trailers the kernel would refuse.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/kmod/signature.hpp"

using namespace ckms::kmod;
using ckms::ErrorKind;

namespace {

// module | cms | module_signature | magic, with the trailer's fields given explicitly.
std::string with_trailer(const std::string& module, const std::string& cms, std::uint32_t sig_len,
                         std::uint8_t id_type = kPkeyIdPkcs7, std::uint8_t algo = 0) {
  std::string info(kSignatureInfoSize, '\0');
  info[0] = static_cast<char>(algo);
  info[2] = static_cast<char>(id_type);
  for (int i = 0; i < 4; ++i) info[8 + i] = static_cast<char>(sig_len >> (24 - 8 * i));
  return module + cms + info + std::string(kSignatureMagic);
}

ckms::Error failure(const std::string& module) {
  try {
    split_signature(module, "signed.ko");
  } catch (const ckms::Error& e) {
    return e;
  }
  FAIL("split_signature accepted the trailer");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("a module without the magic is unsigned", "[kmod][signature]") {
  REQUIRE_FALSE(split_signature("", "m").has_value());
  REQUIRE_FALSE(split_signature("\x7f"
                                "ELF plus content",
                                "m")
                    .has_value());
  REQUIRE(strip_signature("content", "m") == "content");
}

TEST_CASE("a well-formed trailer splits into content and CMS", "[kmod][signature]") {
  const std::string module = with_trailer("MODULE", "CMSDER", 6);
  const auto parts = split_signature(module, "m");
  REQUIRE(parts.has_value());
  REQUIRE(parts->content == "MODULE");
  REQUIRE(parts->cms_der == "CMSDER");
  REQUIRE(strip_signature(module, "m") == "MODULE");
}

TEST_CASE("malformed trailers are integrity errors naming the module", "[kmod][signature]") {
  std::string bad;
  SECTION("only the magic") { bad = std::string(kSignatureMagic); }
  SECTION("sig_len larger than what precedes it") { bad = with_trailer("M", "CMS", 1000); }
  SECTION("sig_len 0xFFFFFFFF") { bad = with_trailer("M", "CMS", 0xFFFFFFFF); }
  SECTION("sig_len zero") { bad = with_trailer("M", "CMS", 0); }
  SECTION("id_type is not PKCS#7") { bad = with_trailer("M", "CMS", 3, 1); }
  SECTION("algo set, which PKCS#7 signatures must not") { bad = with_trailer("M", "CMS", 3, 2, 4); }
  const ckms::Error e = failure(bad);
  REQUIRE(e.kind() == ErrorKind::integrity);
  REQUIRE_THAT(e.what(), Catch::Contains("signed.ko") && Catch::Contains("malformed module signature"));
}

TEST_CASE("a CMS that is not one is an integrity error", "[kmod][signature]") {
  for (const std::string& der : {std::string(), std::string("garbage"), std::string("\x30\x82\xff\xff", 4),
                                 std::string("\x30\x03\x02\x01\x01", 5)}) {
    try {
      read_signer(der, "signed.ko");
      FAIL("read_signer accepted garbage");
    } catch (const ckms::Error& e) {
      REQUIRE(e.kind() == ErrorKind::integrity);
      REQUIRE_THAT(e.what(), Catch::Contains("signed.ko"));
    }
  }
}
