// Compressed modules must interoperate with xz, zstd and kmod.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/kmod/compress.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "hello_module.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using namespace ckms::kmod;
using ckms::kmod::test::hello_module;
using ckms::kmod::test::read_bytes;
using ckms::kmod::test::run_ok;
using ckms::kmod::test::write_bytes;

TEST_CASE("xz output is what the kernel's Makefile makes and what xz reads", "[kmod][compress]") {
  ckms::testkit::TempDir dir("ckms-kmod-xz");
  const std::string module = read_bytes(hello_module().ko);
  const std::string ours = compress(module, Compression::xz, "ckms_hello.ko");
  REQUIRE(detect_compression(ours) == Compression::xz);
  REQUIRE(ours.size() < module.size());

  write_bytes(dir / "ours.ko.xz", ours);
  run_ok({"xz", "-t", (dir / "ours.ko.xz").string()});
  REQUIRE(run_ok({"xz", "-dc", (dir / "ours.ko.xz").string()}) == module);
  // CRC32 check, as `xz --check=crc32` (xz -l --robot prints the check per stream).
  REQUIRE_THAT(run_ok({"xz", "-l", "--robot", (dir / "ours.ko.xz").string()}), Catch::Contains("CRC32"));

  // scripts/Makefile.modinst: xz --check=crc32 --lzma2=dict=1MiB
  fs::copy_file(hello_module().ko, dir / "theirs.ko");
  run_ok({"xz", "--check=crc32", "--lzma2=dict=1MiB", "-f", (dir / "theirs.ko").string()});
  REQUIRE(read_bytes(dir / "theirs.ko.xz") == ours);
  REQUIRE(decompress(read_bytes(dir / "theirs.ko.xz"), Compression::xz, module.size(), "t") == module);
}

TEST_CASE("zstd output is what zstd reads, and zstd's output is what we read", "[kmod][compress]") {
  ckms::testkit::TempDir dir("ckms-kmod-zstd");
  const std::string module = read_bytes(hello_module().ko);
  const std::string ours = compress(module, Compression::zstd, "ckms_hello.ko");
  REQUIRE(detect_compression(ours) == Compression::zstd);
  write_bytes(dir / "ours.ko.zst", ours);
  REQUIRE(run_ok({"zstd", "-dcq", (dir / "ours.ko.zst").string()}) == module);

  fs::copy_file(hello_module().ko, dir / "theirs.ko");
  run_ok({"zstd", "-T0", "-q", "-f", (dir / "theirs.ko").string()});
  REQUIRE(decompress(read_bytes(dir / "theirs.ko.zst"), Compression::zstd, module.size(), "t") == module);
}

TEST_CASE("kmod's modinfo reads our .ko.xz and .ko.zst, and so do we", "[kmod][compress]") {
  ckms::testkit::TempDir dir("ckms-kmod-modinfo-compressed");
  const std::string module = read_bytes(hello_module().ko);
  const ModInfo plain = read_modinfo(module, "ckms_hello.ko");
  for (const Compression c : {Compression::xz, Compression::zstd}) {
    const fs::path file = dir / ("ckms_hello.ko" + std::string(suffix(c)));
    write_bytes(file, compress(module, c, file.string()));
    std::string vermagic = run_ok({"modinfo", "-F", "vermagic", file.string()});
    REQUIRE(vermagic == plain.vermagic + "\n");
    const ModInfo info = read_modinfo_file(file);
    REQUIRE(info.vermagic == plain.vermagic);
    REQUIRE(info.srcversion == plain.srcversion);
    REQUIRE(info.entries == plain.entries);
  }
}

TEST_CASE("decompression stops at its limit", "[kmod][compress]") {
  const std::string module = read_bytes(hello_module().ko);
  for (const Compression c : {Compression::xz, Compression::zstd}) {
    const std::string packed = compress(module, c, "m");
    REQUIRE(decompress(packed, c, module.size(), "m").size() == module.size());
    try {
      decompress(packed, c, module.size() - 1, "ckms_hello.ko.packed");
      FAIL("decompression past the limit succeeded");
    } catch (const ckms::Error& e) {
      REQUIRE(e.kind() == ckms::ErrorKind::refused);
      REQUIRE_THAT(e.what(), Catch::Contains("ckms_hello.ko.packed"));
    }
  }
}
