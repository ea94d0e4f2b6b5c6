// Benign layers unpack to exactly the tree GNU tar makes from the same bytes.

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "../../unit/oci/layer_testing.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "layer_headers.hpp"
#include "layer_tree.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::testing::TarBuilder;
using ckms::testing::TarCompression;

namespace {

void compare_with_gnu_tar(const fs::path& tarball, const fs::path& work) {
  const fs::path by_tar = work / "by-tar";
  const fs::path by_ckms = work / "by-ckms";
  fs::create_directories(by_tar);
  fs::create_directories(by_ckms);
  const auto extracted = ckms::testkit::run({"tar", "-C", by_tar.string(), "-xf", tarball.string()});
  REQUIRE(extracted.exit_code == 0);
  ckms::FileReader reader(tarball);
  // GNU tar as root keeps setuid bits; so does ckms when asked, which is what is compared.
  ckms::oci::UnpackOptions options;
  options.privileged_bits = true;
  ckms::oci::apply_layer(reader, by_ckms, options);
  const auto expected = ckms::testing::describe_tree(by_tar, ckms::testing::TreeOptions{true, true});
  const auto actual = ckms::testing::describe_tree(by_ckms, ckms::testing::TreeOptions{true, true});
  INFO(ckms::testing::tree_difference(expected, actual));
  CHECK(expected.size() == actual.size());
  CHECK(expected == actual);
}

}  // namespace

TEST_CASE("a synthetic layer unpacks as GNU tar unpacks it") {
  for (const TarCompression compression : {TarCompression::gzip, TarCompression::zstd}) {
    ckms::testkit::TempDir dir("ckms-test-");
    const std::string tar = TarBuilder(compression)
                                .dir("usr/", 0755, 1'000'000'000)
                                .dir("usr/lib/", 0755)
                                .file("usr/lib/libx.so.1", std::string(300000, 'x'), 0755, 1'234'567'890)
                                .symlink("usr/lib/libx.so", "libx.so.1")
                                .symlink("lib", "usr/lib")
                                .file("etc/shadow", "secret", 0600)
                                .owned_file("home/user/.profile", "PS1=$\n", 0644, 1000, 1000)
                                .hardlink("usr/lib/libx.hard", "usr/lib/libx.so.1")
                                .dir("tmp/", 01777)
                                .file("usr/bin/sudo", "elf", 04755)
                                .file("empty", "")
                                .finish();
    ckms::testkit::write_text(dir / "layer.tar", tar);
    compare_with_gnu_tar(dir / "layer.tar", dir.path());
  }
}

TEST_CASE("the installed Debian kernel headers unpack as GNU tar unpacks them") {
  const auto headers = ckms::testing::installed_headers();
  if (!headers) {
    WARN("no kernel headers under /usr/src (scripts/install-deps.sh installs them)");
    return;
  }
  ckms::testkit::TempDir dir("ckms-headers");
  std::vector<std::string> create = {"tar", "-C", "/", "-czf", (dir / "headers.tar.gz").string()};
  create.insert(create.end(), headers->relative_dirs.begin(), headers->relative_dirs.end());
  REQUIRE(ckms::testkit::run(create).exit_code == 0);
  compare_with_gnu_tar(dir / "headers.tar.gz", dir.path());
  // Debian's absolute links into linux-kbuild are kept as data, not resolved.
  CHECK(fs::is_symlink(dir / "by-ckms" / headers->relative_dirs[0] / "scripts"));
}
