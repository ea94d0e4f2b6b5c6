#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "ckms/oci/verifying_reader.hpp"
#include "layer_testing.hpp"
#include "require_error.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::testing::TarBuilder;
using ckms::testing::TarCompression;

namespace {

ckms::oci::UnpackResult unpack(const std::string& tar, const fs::path& target, ckms::oci::UnpackOptions options = {}) {
  ckms::StringReader reader(tar);
  return ckms::oci::apply_layer(reader, target, options);
}

std::string refusal(const std::string& tar, const fs::path& target, ckms::oci::UnpackOptions options = {}) {
  try {
    unpack(tar, target, options);
  } catch (const ckms::Error& e) {
    if (e.kind() == ckms::ErrorKind::refused) return e.what();
    return std::string("wrong kind: ") + e.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("a layer unpacks the same whether plain, gzip or zstd") {
  for (const TarCompression compression : {TarCompression::none, TarCompression::gzip, TarCompression::zstd}) {
    ckms::testkit::TempDir dir("ckms-test-");
    const std::string tar = TarBuilder(compression)
                                .dir("etc/", 0750, 1'500'000'000)
                                .file("etc/conf", "setting=1\n", 0640, 1'400'000'000)
                                .symlink("etc/link", "conf")
                                .hardlink("etc/hard", "etc/conf")
                                .file("bin/tool", "#!/bin/sh\n", 0755)
                                .finish();
    const auto result = unpack(tar, dir.path());
    CHECK(result.entries == 5);
    CHECK(ckms::testkit::read_text(dir / "etc/conf") == "setting=1\n");
    CHECK(fs::read_symlink(dir / "etc/link") == "conf");
    CHECK(fs::equivalent(dir / "etc/hard", dir / "etc/conf"));
    struct stat st {};
    REQUIRE(::stat((dir / "etc").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0750);
    CHECK(st.st_mtime == 1'500'000'000);
    REQUIRE(::stat((dir / "etc/conf").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    CHECK(st.st_mtime == 1'400'000'000);
    CHECK(fs::is_directory(dir / "bin"));  // implied parent
    for (const auto& item : fs::recursive_directory_iterator(dir.path())) {
      CHECK(item.path().filename().string().find(".ckms-unpack") == std::string::npos);
    }
  }
}

TEST_CASE("entries that would leave the target are refused by name") {
  ckms::testkit::TempDir dir("ckms-test-");
  fs::create_directories(dir / "target");
  fs::create_directories(dir / "outside");
  const fs::path target = dir / "target";
  CHECK_THAT(refusal(TarBuilder().file("../x", "pwn").finish(), target),
             Catch::Contains("'../x'") && Catch::Contains(".."));
  CHECK_THAT(refusal(TarBuilder().symlink("l", (dir / "outside").string()).file("l/pwn", "x").finish(), target),
             Catch::Contains("'l/pwn'"));
  CHECK_THAT(refusal(TarBuilder().file("a//b", "x").finish(), target), Catch::Contains("'a//b'"));
  CHECK(fs::is_empty(dir / "outside"));
  CHECK_FALSE(fs::exists(dir / "x"));
}

TEST_CASE("whiteouts hide lower content and keep what the same layer adds") {
  ckms::testkit::TempDir dir("ckms-test-");
  unpack(TarBuilder().file("a/old", "1").file("a/keep", "2").file("b/x", "3").file("c", "4").finish(), dir.path());
  unpack(TarBuilder()
             .file("a/new", "5")
             .file("a/.wh..wh..opq", "")
             .file(".wh.c", "")
             .file("b/.wh.x", "")
             .file("b/y", "6")
             .file("b/.wh.y", "")  // same layer: must not hide its sibling
             .finish(),
         dir.path());
  CHECK(fs::exists(dir / "a/new"));
  CHECK_FALSE(fs::exists(dir / "a/old"));
  CHECK_FALSE(fs::exists(dir / "a/keep"));
  CHECK_FALSE(fs::exists(dir / "c"));
  CHECK_FALSE(fs::exists(dir / "b/x"));
  CHECK(fs::exists(dir / "b/y"));
  CHECK_FALSE(fs::exists(dir / "a/.wh..wh..opq"));
}

TEST_CASE("limits stop a layer at the entry that crosses them, before writing it") {
  ckms::testkit::TempDir dir("ckms-test-");
  ckms::oci::UnpackOptions options;
  options.layer_name = "sha256:feed";
  options.limits.max_file_bytes = 1000;
  CHECK_THAT(refusal(TarBuilder().file("big", std::string(1001, 'z')).finish(), dir.path(), options),
             Catch::Contains("sha256:feed") && Catch::Contains("'big'"));
  CHECK_FALSE(fs::exists(dir / "big"));

  options = {};
  options.limits.max_total_bytes = 10;
  CHECK_THAT(refusal(TarBuilder().file("one", "123456").file("two", "123456").finish(), dir.path(), options),
             Catch::Contains("'two'"));
  CHECK_FALSE(fs::exists(dir / "two"));

  options = {};
  options.limits.max_entries = 2;
  CHECK_THAT(refusal(TarBuilder().dir("a/").dir("b/").dir("c/").finish(), dir.path(), options),
             Catch::Contains("'c/'"));
}

TEST_CASE("a stream cut in the middle of a file leaves no file under its name") {
  ckms::testkit::TempDir dir("ckms-test-");
  const std::string full = TarBuilder().file("first", "ok").file("second", std::string(100000, 'z')).finish();
  const std::string cut = full.substr(0, 512 * 3 + 50000);
  try {
    unpack(cut, dir.path());
    FAIL("a truncated layer was accepted");
  } catch (const ckms::Error& e) {
    CHECK(e.kind() == ckms::ErrorKind::integrity);
  }
  CHECK(fs::exists(dir / "first"));
  CHECK_FALSE(fs::exists(dir / "second"));
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("a failing reader's own error reaches the caller") {
  ckms::testkit::TempDir dir("ckms-test-");
  const std::string tar = TarBuilder().file("f", "content").finish();
  ckms::StringReader inner(tar);
  ckms::oci::VerifyingReader verifying(inner, ckms::digest_of("something else"), static_cast<std::int64_t>(tar.size()),
                                       "blob B");
  ckms::testkit::require_error([&] { ckms::oci::apply_layer(verifying, dir.path()); }, ckms::ErrorKind::integrity,
                               "blob B");
}

TEST_CASE("a header libarchive rejects without a message is an integrity error") {
  // Found by fuzz_layer: a mutated ustar header that libarchive fails with no error string.
  const std::string bytes =
      ckms::testkit::read_text(fs::path(CKMS_SOURCE_DIR) / "fuzz/regressions/layer/header-error-without-message");
  ckms::testkit::TempDir dir("ckms-test-");
  ckms::StringReader reader(bytes);
  ckms::testkit::require_error([&] { ckms::oci::apply_layer(reader, dir.path()); }, ckms::ErrorKind::integrity,
                               "malformed archive");
}
