// read_modinfo on a well-formed file and on every kind of hostile one: each must parse or
// fail with a ckms::Error naming the module, never crash (this suite also runs under ASan).

#include <catch2/catch.hpp>

#include <random>

#include "ckms/base/error.hpp"
#include "ckms/kmod/compress.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "tiny_elf.hpp"

using namespace ckms::kmod;
using ckms::ErrorKind;
using test::poke;
using test::tiny_elf;

namespace {

ckms::Error failure(const std::string& bytes) {
  try {
    read_modinfo(bytes, "hostile.ko");
  } catch (const ckms::Error& e) {
    return e;
  }
  FAIL("read_modinfo accepted the input");
  throw std::logic_error("unreachable");
}

// Parsing either succeeds or throws ckms::Error; anything else escapes and fails the test.
bool parses(const std::string& bytes) {
  try {
    read_modinfo(bytes, "fuzzed.ko");
    return true;
  } catch (const ckms::Error&) {
    return false;
  }
}

}  // namespace

TEST_CASE("modinfo fields of a well-formed module", "[kmod][modinfo]") {
  const ModInfo info = read_modinfo(tiny_elf(test::kTinyModinfo).bytes, "tiny.ko");
  REQUIRE(info.name == "tiny");
  REQUIRE(info.license == "GPL");
  REQUIRE(info.vermagic == "6.1.0-56-cloud-amd64 SMP preempt mod_unload modversions ");
  REQUIRE(info.depends == std::vector<std::string>{"crc7", "crc-itu-t"});
  REQUIRE(info.srcversion.empty());
  REQUIRE(info.parameters.size() == 2);
  // Reverse of section order: the compiler emits the last declaration first.
  REQUIRE(info.parameters[1].name == "greeting");
  REQUIRE(info.parameters[1].description == "Word to print");
  REQUIRE(info.parameters[1].type == "charp");
  REQUIRE(info.parameters[0].name == "repeat");
  REQUIRE(info.parameters[0].description.empty());
  REQUIRE(info.parameters[0].type == "int");
  REQUIRE(info.values("alias") == std::vector<std::string>{"tiny-a", "tiny-b"});
  REQUIRE(info.entries.size() == 9);
  REQUIRE_FALSE(info.value("firmware").has_value());
}

TEST_CASE("the machine a module's code is for comes from the ELF header, as uname -m names it", "[kmod][modinfo]") {
  CHECK(read_modinfo(tiny_elf(test::kTinyModinfo).bytes, "tiny.ko").machine == "x86_64");
  CHECK(read_modinfo(tiny_elf(test::kTinyModinfo, EM_AARCH64).bytes, "tiny.ko").machine == "aarch64");
  CHECK(read_modinfo(tiny_elf(test::kTinyModinfo, EM_SPARCV9).bytes, "tiny.ko").machine == "elf-machine-43");
}

TEST_CASE("compressed modules are read after decompression", "[kmod][modinfo]") {
  const std::string plain = tiny_elf(test::kTinyModinfo).bytes;
  for (const Compression c : {Compression::xz, Compression::zstd}) {
    REQUIRE(read_modinfo(compress(plain, c, "tiny.ko"), "tiny.ko").name == "tiny");
    // A bomb is stopped by the limit before parsing.
    REQUIRE_THROWS_AS(read_modinfo(compress(plain, c, "tiny.ko"), "tiny.ko", 100), ckms::Error);
  }
}

TEST_CASE("input that is not ELF is a usage error naming the file", "[kmod][modinfo]") {
  for (const std::string& input : {std::string(), std::string("\x7f"), std::string("garbage"), std::string(4096, '\0'),
                                   std::string("#!/bin/sh\necho\n")}) {
    const ckms::Error e = failure(input);
    REQUIRE(e.kind() == ErrorKind::usage);
    REQUIRE_THAT(e.what(), Catch::Contains("hostile.ko") && Catch::Contains("not an ELF"));
  }
}

TEST_CASE("malformed ELF is an integrity error naming the file", "[kmod][modinfo]") {
  const test::TinyElf good = tiny_elf(test::kTinyModinfo);
  std::string bad = good.bytes;

  SECTION("section header table far beyond the end") {
    poke<Elf64_Off>(bad, offsetof(Elf64_Ehdr, e_shoff), 0xFFFFFFFFFFFF0000ULL);
  }
  SECTION("section header table straddling the end") {
    poke<Elf64_Off>(bad, offsetof(Elf64_Ehdr, e_shoff), bad.size() - 8);
  }
  SECTION(".modinfo offset huge") {
    poke<Elf64_Off>(bad, good.modinfo_header + offsetof(Elf64_Shdr, sh_offset), 0x7FFFFFFFFFFFFFFFULL);
  }
  SECTION(".modinfo size wraps around") {
    poke<Elf64_Xword>(bad, good.modinfo_header + offsetof(Elf64_Shdr, sh_size), ~Elf64_Xword{0} - 8);
  }
  SECTION(".modinfo of type NOBITS") {
    poke<Elf64_Word>(bad, good.modinfo_header + offsetof(Elf64_Shdr, sh_type), SHT_NOBITS);
  }
  SECTION("section name table index out of range") { poke<Elf64_Half>(bad, offsetof(Elf64_Ehdr, e_shstrndx), 77); }
  SECTION("section name offset out of range: no .modinfo found") {
    poke<Elf64_Word>(bad, good.modinfo_header + offsetof(Elf64_Shdr, sh_name), 0xFFFFFF);
  }
  SECTION("huge section count") { poke<Elf64_Half>(bad, offsetof(Elf64_Ehdr, e_shnum), 0xFFFF); }
  const ckms::Error e = failure(bad);
  REQUIRE(e.kind() == ErrorKind::integrity);
  REQUIRE_THAT(e.what(), Catch::Contains("hostile.ko"));
}

TEST_CASE("an ELF file that is not relocatable is not a module", "[kmod][modinfo]") {
  std::string bad = tiny_elf(test::kTinyModinfo).bytes;
  poke<Elf64_Half>(bad, offsetof(Elf64_Ehdr, e_type), ET_EXEC);
  REQUIRE(failure(bad).kind() == ErrorKind::usage);
}

TEST_CASE("every truncation of a module fails cleanly", "[kmod][modinfo]") {
  const std::string good = tiny_elf(test::kTinyModinfo).bytes;
  REQUIRE(parses(good));
  for (std::size_t size = 0; size < good.size(); ++size) {
    INFO("truncated to " << size << " bytes");
    REQUIRE_FALSE(parses(good.substr(0, size)));
  }
}

TEST_CASE("random corruption never crashes the parser", "[kmod][modinfo]") {
  const std::string good = tiny_elf(test::kTinyModinfo).bytes;
  std::mt19937 random(20261123);  // fixed seed: a failure reproduces
  std::uniform_int_distribution<std::size_t> position(0, good.size() - 1);
  std::uniform_int_distribution<int> value(0, 255);
  int parsed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes = good;
    for (int flips = 1 + round % 4; flips > 0; --flips) {
      bytes[position(random)] = static_cast<char>(value(random));
    }
    parsed += parses(bytes) ? 1 : 0;
  }
  // Flips inside .modinfo text leave a valid file; flips in headers mostly do not.
  REQUIRE(parsed > 0);
  REQUIRE(parsed < 3000);
}
