// Layers stacked with whiteouts and opaque directories give the expected final tree.

#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>

#include "../../unit/oci/layer_testing.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::testing::TarBuilder;

namespace {

void stack(const fs::path& target, const std::string& tar) {
  ckms::StringReader reader(tar);
  ckms::oci::apply_layer(reader, target);
}

// "path=content" for files, "path/" for directories, "path->target" for symlinks.
std::set<std::string> contents(const fs::path& root) {
  std::set<std::string> out;
  for (const auto& item : fs::recursive_directory_iterator(root)) {
    const std::string path = item.path().lexically_relative(root).string();
    if (item.is_symlink())
      out.insert(path + "->" + fs::read_symlink(item.path()).string());
    else if (item.is_directory())
      out.insert(path + "/");
    else
      out.insert(path + "=" + ckms::testkit::read_text(item.path()));
  }
  return out;
}

}  // namespace

TEST_CASE("two layers: whiteouts remove files, directories and symlinks of the lower one") {
  ckms::testkit::TempDir dir("ckms-test-");
  stack(
      dir.path(),
      TarBuilder().file("etc/a", "1").file("etc/b", "2").file("var/cache/x/y", "3").symlink("link", "etc/a").finish());
  stack(dir.path(), TarBuilder()
                        .file("etc/.wh.a", "")
                        .file("var/.wh.cache", "")
                        .file(".wh.link", "")
                        .file(".wh.never-existed", "")
                        .file("etc/c", "4")
                        .finish());
  CHECK(contents(dir.path()) == std::set<std::string>{"etc/", "etc/b=2", "etc/c=4", "var/"});
}

TEST_CASE("two layers: an opaque directory keeps only what its own layer adds") {
  ckms::testkit::TempDir dir("ckms-test-");
  stack(dir.path(), TarBuilder()
                        .file("opt/app/old", "1")
                        .file("opt/app/sub/deep", "2")
                        .file("opt/app/sub/keep-name", "lower")
                        .file("opt/other", "3")
                        .finish());
  // The marker comes after some of its layer's own entries: order must not matter.
  stack(dir.path(), TarBuilder()
                        .file("opt/app/sub/keep-name", "upper")
                        .file("opt/app/.wh..wh..opq", "")
                        .file("opt/app/new", "4")
                        .finish());
  CHECK(contents(dir.path()) == std::set<std::string>{"opt/", "opt/other=3", "opt/app/", "opt/app/new=4",
                                                      "opt/app/sub/", "opt/app/sub/keep-name=upper"});
}

TEST_CASE("three layers: re-adding, opaque and whiteouts compose in order") {
  ckms::testkit::TempDir dir("ckms-test-");
  stack(dir.path(), TarBuilder().file("d/one", "1").file("d/two", "2").file("f", "base").dir("e/").finish());
  stack(dir.path(), TarBuilder()
                        .dir("d/")
                        .file("d/.wh..wh..opq", "")
                        .file("d/three", "3")
                        .file(".wh.f", "")
                        .file("e/inner", "i")
                        .finish());
  stack(dir.path(), TarBuilder()
                        .file("f", "again")
                        .file("d/.wh.three", "")
                        .file("d/four", "4")
                        .symlink("e", "d")  // a symlink over a directory replaces it
                        .finish());
  CHECK(contents(dir.path()) == std::set<std::string>{"d/", "d/four=4", "f=again", "e->d"});
}
