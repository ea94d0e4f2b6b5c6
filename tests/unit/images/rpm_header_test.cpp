// The hand-written RPM header parser against rpm's own reading of packages rpmbuild made, and
// against files that are not RPM packages or are cut short or corrupted.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ckms/base/error.hpp"
#include "ckms/images/rpm.hpp"
#include "require_error.hpp"
#include "rpm_corpus.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
namespace images = ckms::images;
using ckms::testing::rpm_corpus;
using ckms::testkit::run;

namespace {

std::string rpm_query(const fs::path& rpm, const std::string& format) {
  const auto result = run({"rpm", "-qp", "--nosignature", "--nodigest", "--queryformat", format, rpm.string()});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  return result.out;
}

// What that query format prints, from ckms's reading.
std::string describe(const images::RpmHeader& header) {
  std::string text =
      fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n", header.name, header.version, header.release, header.arch,
                  header.epoch ? std::to_string(*header.epoch) : "(none)", header.build_time, header.payload_compressor,
                  header.source_package ? "(none)" : "kernel-" + header.version + "-" + header.release + ".src.rpm",
                  header.epoch ? header.evr() : "(none):" + header.evr());
  for (const auto& [prefix, relations] : {std::pair{"P", &header.provides}, std::pair{"R", &header.requires_}}) {
    for (const auto& relation : *relations) {
      text += fmt::format(
          "{} {}\n", prefix,
          relation.relation.empty() ? relation.name : relation.name + " " + relation.relation + " " + relation.version);
    }
  }
  return text;
}

constexpr const char* kQuery =
    "%{NAME}\n%{VERSION}\n%{RELEASE}\n%{ARCH}\n%{EPOCH}\n%{BUILDTIME}\n%{PAYLOADCOMPRESSOR}\n%{SOURCERPM}\n"
    "%{EPOCH}:%{VERSION}-%{RELEASE}\n[P %{PROVIDENEVRS}\n][R %{REQUIRENEVRS}\n]";

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_bytes(const fs::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<fs::path> every_package() {
  std::vector<fs::path> files;
  for (const auto* build : rpm_corpus().builds()) {
    files.insert(files.end(), {build->rpms.devel, build->rpms.debug_devel, build->rpms.matched, build->rpms.source});
  }
  return files;
}

// Offsets worth corrupting: every byte of the lead and of both headers' intro and index (the
// numbers the parser trusts least), and every 61st byte of the rest (values it only reads).
std::vector<std::size_t> structural_offsets(std::string_view bytes, std::uint64_t payload_offset) {
  auto be32 = [&](std::size_t at) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes.at(at + i));
    return value;
  };
  const std::size_t signature_index_end = 96 + 16 + 16 * std::size_t{be32(96 + 8)};
  const std::size_t main_start = (signature_index_end + be32(96 + 12) + 7) / 8 * 8;
  const std::size_t main_index_end = main_start + 16 + 16 * std::size_t{be32(main_start + 8)};
  std::vector<std::size_t> offsets;
  for (std::size_t at = 0; at <= payload_offset; ++at) {
    const bool structure = at < signature_index_end || (at >= main_start && at < main_index_end);
    if (structure || at % 61 == 0 || at == payload_offset) offsets.push_back(at);
  }
  return offsets;
}

}  // namespace

TEST_CASE("RPM headers read by hand say what rpm -qp says") {
  for (const auto& file : every_package()) {
    INFO(file);
    const images::RpmHeader header = images::read_rpm_header(file);
    CHECK(describe(header) == rpm_query(file, kQuery));
    if (!header.source_package) CHECK(file.filename() == header.nevra() + ".rpm");
  }
  CHECK(images::read_rpm_header(rpm_corpus().zstd.rpms.devel).provides.at(2) ==
        images::RpmRelation{"kernel-devel-uname-r", "=", "6.1.99-100.ckmstest.x86_64"});
  CHECK(images::read_rpm_header(rpm_corpus().zstd.rpms.source).source_package);
  CHECK_FALSE(images::read_rpm_header(rpm_corpus().zstd.rpms.devel).source_package);
  CHECK(images::read_rpm_header(rpm_corpus().gzip.rpms.devel).evr() == "3:6.1.99-100.ckmstest");
}

TEST_CASE("the payload starts where the header parser says: it decompresses to rpm2cpio's output") {
  for (const auto* build : rpm_corpus().builds()) {
    const fs::path& file = build->rpms.devel;
    INFO(file);
    const auto header = images::read_rpm_header(file);
    const std::map<std::string, std::string> tools{
        {"zstd", "zstd"}, {"xz", "xz"}, {"gzip", "gzip"}, {"bzip2", "bzip2"}};
    REQUIRE(tools.contains(header.payload_compressor));
    const auto payload =
        run({"sh", "-c",
             fmt::format("tail -c +{} \"$0\" | {} -dc", header.payload_offset + 1, tools.at(header.payload_compressor)),
             file.string()});
    const auto cpio = run({"rpm2cpio", file.string()});
    REQUIRE(payload.exit_code == 0);
    REQUIRE(cpio.exit_code == 0);
    CHECK(payload.out.size() == cpio.out.size());
    CHECK(payload.out == cpio.out);
  }
}

TEST_CASE("files that are not RPM packages are refused, naming the file") {
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path text = dir / "kernel-devel-1-1.x86_64.rpm";
  ckms::testkit::write_text(text, "#!/bin/sh\necho not a package\n");
  CHECK_THROWS_WITH(images::read_rpm_header(text),
                    Catch::Contains(text.string()) && Catch::Contains("not an RPM package"));
  const fs::path empty = dir / "empty.rpm";
  ckms::testkit::write_text(empty, "");
  CHECK_THROWS_WITH(images::read_rpm_header(empty),
                    Catch::Contains(empty.string()) && Catch::Contains("not an RPM package"));
  CHECK_THROWS_WITH(images::unpack_rpm(text, dir.path()), Catch::Contains(text.string()));
  CHECK_THROWS_WITH(images::read_rpm_header(dir / "missing.rpm"), Catch::Contains("missing.rpm"));
  ckms::testkit::require_error([&] { images::read_rpm_header(dir / "missing.rpm"); }, ckms::ErrorKind::not_found,
                               "missing.rpm");
}

TEST_CASE("a package cut before its payload is refused, naming the file") {
  const fs::path& original = rpm_corpus().zstd.rpms.devel;
  const std::string bytes = read_bytes(original);
  const auto payload_offset = images::read_rpm_header(original).payload_offset;
  REQUIRE(payload_offset < bytes.size());
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path cut = dir / "cut.rpm";
  std::size_t refused = 0;
  const auto lengths = structural_offsets(bytes, payload_offset);
  for (const std::size_t length : lengths) {
    write_bytes(cut, std::string_view(bytes).substr(0, length));
    try {
      images::read_rpm_header(cut);
      FAIL("a package of " << length << " of " << bytes.size() << " bytes was read");
    } catch (const ckms::Error& error) {
      if (std::string_view(error.what()).find(cut.string()) == std::string_view::npos) FAIL(error.what());
      ++refused;
    }
  }
  CHECK(refused == lengths.size());
}

TEST_CASE("a corrupted header is read or refused with an error, never crashes or reads out of bounds") {
  // Each byte of structural_offsets flipped: offsets, counts and types that point anywhere. The checks in
  // read_rpm_header, ASan and UBSan decide; the parse itself may succeed where a flipped byte changed only a value.
  const fs::path& original = rpm_corpus().zstd.rpms.devel;
  const std::string bytes = read_bytes(original);
  const auto payload_offset = images::read_rpm_header(original).payload_offset;
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path flipped = dir / "flipped.rpm";
  std::size_t refused = 0;
  std::size_t read = 0;
  for (const std::size_t at : structural_offsets(bytes, payload_offset - 1)) {
    std::string copy = bytes;
    copy[at] = static_cast<char>(copy[at] ^ 0xff);
    write_bytes(flipped, copy);
    try {
      const auto header = images::read_rpm_header(flipped);
      CHECK(header.payload_offset < copy.size());
      ++read;
    } catch (const ckms::Error&) {
      ++refused;
    }
  }
  INFO(refused << " refused, " << read << " read");
  CHECK(refused > 100);  // every lead, magic and index byte at least
  CHECK(read > 0);       // most of the store is values ckms does not look at
}
