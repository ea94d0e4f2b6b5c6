// xz and zstd through liblzma and libzstd: roundtrips, magic detection, and refusal of
// corrupt, truncated and oversized input.

#include <catch2/catch.hpp>

#include <random>

#include "ckms/base/error.hpp"
#include "ckms/kmod/compress.hpp"

using namespace ckms::kmod;
using ckms::ErrorKind;

namespace {

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(random() % 16);  // compressible, not trivial
  return out;
}

ckms::Error failure(const std::string& input, Compression c, std::uint64_t limit) {
  try {
    decompress(input, c, limit, "input.ko.packed");
  } catch (const ckms::Error& e) {
    return e;
  }
  FAIL("decompress accepted the input");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("roundtrips through both formats", "[kmod][compress]") {
  const auto c = GENERATE(Compression::xz, Compression::zstd);
  const auto size = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{300000});
  const std::string input = random_bytes(size, 7);
  const std::string packed = compress(input, c, "input");
  REQUIRE(detect_compression(packed) == c);
  REQUIRE(decompress(packed, c, input.size(), "input") == input);
  REQUIRE(decompress_auto(packed, input.size(), "input") == input);
}

TEST_CASE("formats are told by magic, names only suggest", "[kmod][compress]") {
  REQUIRE(detect_compression("\x7f"
                             "ELF") == Compression::none);
  REQUIRE(detect_compression("") == Compression::none);
  REQUIRE(detect_compression(std::string("\xFD"
                                         "7zXZ\0",
                                         6)) == Compression::xz);
  REQUIRE(detect_compression("\x28\xB5\x2F\xFD") == Compression::zstd);
  REQUIRE(compression_from_name("a/b.ko.xz") == Compression::xz);
  REQUIRE(compression_from_name("b.ko.zst") == Compression::zstd);
  REQUIRE(compression_from_name("b.ko") == Compression::none);
  REQUIRE(suffix(Compression::zstd) == ".zst");
  REQUIRE(decompress_auto("plain bytes", 5, "x") == "plain bytes");
}

TEST_CASE("a decompression bomb is stopped at the limit", "[kmod][compress]") {
  const auto c = GENERATE(Compression::xz, Compression::zstd);
  const std::string bomb = compress(std::string(64 << 20, '\0'), c, "zeros");
  REQUIRE(bomb.size() < (1 << 20));
  const ckms::Error e = failure(bomb, c, 1 << 20);
  REQUIRE(e.kind() == ErrorKind::refused);
  REQUIRE_THAT(e.what(), Catch::Contains("input.ko.packed") && Catch::Contains("1048576"));
}

TEST_CASE("truncated and corrupt input is an integrity error", "[kmod][compress]") {
  const auto c = GENERATE(Compression::xz, Compression::zstd);
  const std::string input = random_bytes(100000, 3);
  const std::string packed = compress(input, c, "input");

  SECTION("truncated") {
    for (const std::size_t keep : {std::size_t{0}, std::size_t{4}, packed.size() / 2, packed.size() - 1}) {
      INFO("kept " << keep << " of " << packed.size() << " bytes");
      REQUIRE(failure(packed.substr(0, keep), c, input.size()).kind() == ErrorKind::integrity);
    }
  }
  SECTION("one byte flipped in the payload") {
    std::string bad = packed;
    bad[bad.size() / 2] ^= 0x40;
    REQUIRE(failure(bad, c, input.size()).kind() == ErrorKind::integrity);
  }
  SECTION("garbage after a valid magic") {
    std::string bad = packed.substr(0, 6) + std::string(200, '\x55');
    REQUIRE(failure(bad, c, input.size()).kind() == ErrorKind::integrity);
  }
}

TEST_CASE("compressing without a format is a usage error", "[kmod][compress]") {
  try {
    compress("x", Compression::none, "x.ko");
    FAIL("compressed with no format");
  } catch (const ckms::Error& e) {
    REQUIRE(e.kind() == ErrorKind::usage);
  }
}
