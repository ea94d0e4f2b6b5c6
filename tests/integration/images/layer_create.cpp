// Deterministic layers: the same tree gives the same digests, and GNU tar reads them back.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "ckms/base/io.hpp"
#include "ckms/oci/layer_create.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "layer_tree.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::oci::CreateOptions;
using ckms::oci::LayerCompression;

namespace {

constexpr std::int64_t kEpoch = 1'700'000'000;

void set_mtime(const fs::path& path, std::int64_t seconds) {
  const timespec times[2] = {{seconds, 0}, {seconds, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

// The same content built in a different order, with different owners and mtimes above the clamp.
void build_tree(const fs::path& root, bool reversed, std::int64_t mtime) {
  std::vector<std::string> dirs = {"b", "a", "a/z", "a/y", "c.d", "c"};
  if (reversed) std::reverse(dirs.begin(), dirs.end());
  for (const auto& d : dirs) fs::create_directories(root / d);
  std::vector<std::string> files = {"a/z/1", "a/y/2", "b/3", "c.d/4", "c/5", "top"};
  if (reversed) std::reverse(files.begin(), files.end());
  for (const auto& f : files) ckms::testkit::write_text(root / f, "content of " + f + "\n");
  fs::permissions(root / "top", fs::perms::owner_all | fs::perms::group_read);
  fs::create_symlink("../top", root / "a/link");
  fs::create_hard_link(root / "b/3", root / "c/hard");
  if (::geteuid() == 0) REQUIRE(::chown((root / "b/3").c_str(), reversed ? 1234 : 0, 5678) == 0);
  for (const auto& item : fs::recursive_directory_iterator(root)) set_mtime(item.path(), mtime);
  set_mtime(root / "c/5", kEpoch - 1000);  // below the clamp: kept
}

}  // namespace

TEST_CASE("the same tree gives the same layer digests, however it was made") {
  for (const LayerCompression compression : {LayerCompression::gzip, LayerCompression::zstd, LayerCompression::none}) {
    ckms::testkit::TempDir dir("ckms-test-");
    build_tree(dir / "one", false, kEpoch + 100);
    build_tree(dir / "two", true, kEpoch + 99999);
    CreateOptions options;
    options.compression = compression;
    options.source_date_epoch = kEpoch;
    const auto first = ckms::oci::create_layer(dir / "one", dir / "one.tar", options);
    const auto again = ckms::oci::create_layer(dir / "one", dir / "again.tar", options);
    const auto second = ckms::oci::create_layer(dir / "two", dir / "two.tar", options);
    CHECK(first.digest == again.digest);
    CHECK(first.digest == second.digest);
    CHECK(first.diff_id == second.diff_id);
    CHECK(first.digest == ckms::digest_of_file(dir / "one.tar"));
    CHECK(first.size == fs::file_size(dir / "one.tar"));
    if (compression == LayerCompression::none) {
      CHECK(first.digest == first.diff_id);
    } else {
      CHECK(first.digest != first.diff_id);
      CHECK(first.uncompressed_size > first.size);
    }
    CHECK(first.media_type == ckms::oci::layer_media_type(compression));

    // A different clamp is a different layer: the digest really covers the mtimes.
    options.source_date_epoch = kEpoch + 1;
    CHECK(ckms::oci::create_layer(dir / "one", dir / "other.tar", options).digest != first.digest);
  }
}

TEST_CASE("a created layer lists sorted, owned by 0/0, clamped, and extracts identically") {
  ckms::testkit::TempDir dir("ckms-test-");
  build_tree(dir / "src", true, kEpoch + 5000);
  CreateOptions options;
  options.source_date_epoch = kEpoch;
  const auto layer = ckms::oci::create_layer(dir / "src", dir / "layer.tar.gz", options);

  const auto gz = ckms::testkit::read_text(dir / "layer.tar.gz");
  REQUIRE(gz.size() > 10);
  CHECK(gz.substr(4, 4) == std::string(4, '\0'));          // no timestamp in the gzip header
  CHECK((static_cast<unsigned char>(gz[3]) & 0x08) == 0);  // no file name either

  ckms::testkit::RunOptions utc;
  utc.env["TZ"] = "UTC";
  const auto listing =
      ckms::testkit::run({"tar", "--numeric-owner", "--full-time", "-tvzf", (dir / "layer.tar.gz").string()}, utc);
  REQUIRE(listing.exit_code == 0);
  std::vector<std::string> names;
  std::istringstream lines(listing.out);
  for (std::string line; std::getline(lines, line);) {
    CHECK_THAT(line, Catch::Contains(" 0/0 "));
    const bool clamped = line.find("2023-11-14 22:13:20") != std::string::npos;
    const bool kept = line.find("2023-11-14 21:56:40") != std::string::npos && line.find("c/5") != std::string::npos;
    CHECK((clamped || kept));
    std::istringstream fields(line);
    std::string field;
    for (int i = 0; i < 6; ++i) fields >> field;
    names.push_back(field);
  }
  CHECK(names.size() == 14);
  CHECK(std::is_sorted(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    auto strip = [](std::string s) { return s.ends_with('/') ? s.substr(0, s.size() - 1) : s; };
    return strip(a) < strip(b);
  }));
  CHECK_THAT(listing.out, Catch::Contains("c/hard link to b/3"));

  fs::create_directory(dir / "by-tar");
  fs::create_directory(dir / "by-ckms");
  REQUIRE(
      ckms::testkit::run({"tar", "-C", (dir / "by-tar").string(), "-xzf", (dir / "layer.tar.gz").string()}).exit_code ==
      0);
  ckms::FileReader reader(dir / "layer.tar.gz");
  ckms::oci::apply_layer(reader, dir / "by-ckms");
  ckms::testing::TreeOptions modes_and_content;
  modes_and_content.mtimes = false;
  const auto source = ckms::testing::describe_tree(dir / "src", modes_and_content);
  const auto by_tar = ckms::testing::describe_tree(dir / "by-tar", modes_and_content);
  INFO(ckms::testing::tree_difference(source, by_tar));
  CHECK(source == by_tar);
  CHECK(by_tar == ckms::testing::describe_tree(dir / "by-ckms", modes_and_content));
  CHECK(fs::equivalent(dir / "by-tar/c/hard", dir / "by-tar/b/3"));
}
