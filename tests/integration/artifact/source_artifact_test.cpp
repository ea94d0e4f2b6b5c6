// Source artifacts: reproducible packing, round trips through a layout and a registry,
// and refusals of what is not a source artifact or would escape the destination.

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "artifact_testing.hpp"
#include "ckms/artifact/source_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "require_error.hpp"
#include "testkit.hpp"

using namespace ckms::artifact;
using ckms::Error;
using ckms::ErrorKind;
using ckms::testkit::error_kind;
using ckms::testkit::TempDir;
namespace fs = std::filesystem;
namespace oci = ckms::oci;

namespace {

// A small DKMS source tree with a subdirectory, an executable script and a symlink.
fs::path make_tree(const fs::path& dir) {
  fs::create_directories(dir / "src" / "include");
  ckms::testkit::write_text(dir / "dkms.conf",
                            "PACKAGE_NAME=hello\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=hello\n"
                            "DEST_MODULE_LOCATION[0]=/updates/dkms\nAUTOINSTALL=yes\n");
  ckms::testkit::write_text(dir / "Makefile", "obj-m := src/hello.o\n");
  ckms::testkit::write_text(dir / "src" / "hello.c", "#include \"hello.h\"\nint x;\n");
  ckms::testkit::write_text(dir / "src" / "include" / "hello.h", "#define HELLO 1\n");
  ckms::testkit::write_text(dir / "patch.sh", "#!/bin/sh\necho patched\n");
  fs::permissions(dir / "patch.sh", fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add);
  fs::create_symlink("src/hello.c", dir / "hello.c");
  return dir;
}

// Path -> kind, mode and content (or link target) of every entry beneath `root`.
std::map<std::string, std::string> describe_tree(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const auto relative = fs::relative(entry.path(), root).string();
    struct stat st {};
    REQUIRE(::lstat(entry.path().c_str(), &st) == 0);
    std::string what = fmt::format("mode {:o} ", st.st_mode);
    if (entry.is_symlink()) {
      what += "-> " + fs::read_symlink(entry.path()).string();
    } else if (entry.is_regular_file()) {
      what += ckms::testkit::read_text(entry.path());
    }
    out[relative] = what;
  }
  return out;
}

}  // namespace

TEST_CASE("the same tree packs to the same digest, whatever its mtimes", "[artifact][source]") {
  TempDir dir("ckms-source");
  const auto tree = make_tree(dir / "tree");
  const auto first = pack_source(tree, dir / "work1");
  // A fresh copy has new mtimes and inode order, as a second checkout would.
  fs::copy(tree, dir / "copy", fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  fs::last_write_time(dir / "copy" / "Makefile", fs::file_time_type::clock::now() + std::chrono::hours(24));
  const auto second = pack_source(dir / "copy", dir / "work2");
  CHECK(first.digest == second.digest);
  CHECK(first.size == second.size);
  CHECK(ckms::digest_of_file(first.layer_file) == first.digest);

  ckms::testkit::write_text(dir / "copy" / "src" / "hello.c", "int y;\n");
  CHECK(pack_source(dir / "copy", dir / "work3").digest != first.digest);
}

TEST_CASE("a directory without dkms.conf is refused", "[artifact][source]") {
  TempDir dir("ckms-source");
  fs::create_directories(dir / "tree");
  ckms::testkit::write_text(dir / "tree" / "Makefile", "obj-m := x.o\n");
  CHECK(error_kind([&] { pack_source(dir / "tree", dir / "work"); }) == ErrorKind::usage);
  // A dkms.conf that is a symlink (out of the tree once unpacked) is not a dkms.conf.
  fs::create_symlink("/etc/hostname", dir / "tree" / "dkms.conf");
  CHECK(error_kind([&] { pack_source(dir / "tree", dir / "work"); }) == ErrorKind::usage);
  CHECK(error_kind([&] { pack_source(dir / "absent", dir / "work"); }) == ErrorKind::not_found);
}

namespace {

void round_trip(oci::Target& target, const fs::path& dir) {
  const auto tree = make_tree(dir / "tree");
  const auto pushed = push_source(target, tree, "hello-1.0", dir / "work");
  // Pushing the same tree again gives the same manifest.
  CHECK(push_source(target, tree, "hello-1.0-again", dir / "work-again").digest == pushed.digest);

  const auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(target, pushed), "source");
  CHECK(manifest.artifact_type == kSourceArtifactType);
  CHECK(manifest.config.media_type == oci::media_type::kOciEmpty);
  REQUIRE(manifest.layers.size() == 1);
  CHECK(manifest.layers[0].media_type == oci::media_type::kOciLayerGzip);

  const auto fetched = fetch_source(target, "hello-1.0", dir / "pulled");
  CHECK(fetched.manifest.digest == pushed.digest);
  CHECK(fetched.layer_digest == manifest.layers[0].digest);
  CHECK(describe_tree(dir / "pulled") == describe_tree(tree));
  // The pulled tree is the same source: it packs to the same digest.
  CHECK(pack_source(dir / "pulled", dir / "work-pulled").digest == fetched.layer_digest);

  // By digest, into an existing empty directory.
  fs::create_directories(dir / "empty");
  CHECK(fetch_source(target, pushed.digest.str(), dir / "empty").layer_digest == fetched.layer_digest);
  CHECK(fs::exists(dir / "empty" / "dkms.conf"));

  // Never over a directory that has content.
  CHECK(error_kind([&] { fetch_source(target, "hello-1.0", dir / "pulled"); }) == ErrorKind::usage);
}

}  // namespace

TEST_CASE("source push and pull round-trip through a layout and a registry", "[artifact][source]") {
  TempDir dir("ckms-source");
  SECTION("an OCI layout") {
    oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
    round_trip(layout, dir.path());
    CHECK(layout.verify().empty());
  }
  SECTION("a registry") {
    auto repo = test::repository("source");
    round_trip(*repo, dir.path());
  }
}

TEST_CASE("fetching refuses what is not a safe source artifact and leaves nothing", "[artifact][source]") {
  TempDir dir("ckms-source");
  oci::Layout layout(dir / "layout", oci::Layout::Mode::create_if_missing);
  const auto empty = oci::Descriptor::for_content(std::string(oci::media_type::kOciEmpty), "{}");
  oci::push_bytes(layout, empty, "{}");
  // A tar+gzip layer made by Python's tarfile from the given entries.
  const auto push_layer_manifest = [&](const std::string& tag, const std::string& artifact_type,
                                       const std::string& python_entries) {
    const fs::path tar = dir / (tag + ".tar.gz");
    const auto made = ckms::testkit::run({"python3", "-c",
                                          "import io, sys, tarfile\n"
                                          "t = tarfile.open(sys.argv[1], 'w:gz')\n"
                                          "def add(name, data=b'x', kind=tarfile.REGTYPE, link=''):\n"
                                          "    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = "
                                          "len(data) if kind == tarfile.REGTYPE else 0\n"
                                          "    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)\n" +
                                              python_entries + "\nt.close()\n",
                                          tar.string()});
    INFO(made.err);
    REQUIRE(made.exit_code == 0);
    oci::Descriptor layer{.media_type = std::string(oci::media_type::kOciLayerGzip),
                          .digest = ckms::digest_of_file(tar),
                          .size = static_cast<std::int64_t>(fs::file_size(tar))};
    ckms::FileReader reader(tar);
    layout.push(layer, reader);
    const std::string bytes =
        oci::ImageManifest{.artifact_type = artifact_type, .config = empty, .layers = {layer}}.serialize();
    const auto descriptor = oci::Descriptor::for_content(std::string(oci::media_type::kOciManifest), bytes);
    oci::push_bytes(layout, descriptor, bytes);
    layout.tag(descriptor, tag);
  };

  push_layer_manifest("escape", std::string(kSourceArtifactType), "add('dkms.conf')\nadd('../../escaped', b'boom')");
  CHECK(error_kind([&] { fetch_source(layout, "escape", dir / "out-escape"); }) == ErrorKind::refused);
  CHECK_FALSE(fs::exists(dir / "out-escape"));
  CHECK_FALSE(fs::exists(dir / "escaped"));

  push_layer_manifest("link-escape", std::string(kSourceArtifactType),
                      "add('dkms.conf')\nadd('up', kind=tarfile.SYMTYPE, link='../..')\nadd('up/written', b'boom')");
  CHECK(error_kind([&] { fetch_source(layout, "link-escape", dir / "out-link"); }) == ErrorKind::refused);
  CHECK_FALSE(fs::exists(dir / "out-link"));

  push_layer_manifest("no-conf", std::string(kSourceArtifactType), "add('Makefile')");
  CHECK(error_kind([&] { fetch_source(layout, "no-conf", dir / "out-noconf"); }) == ErrorKind::integrity);
  CHECK_FALSE(fs::exists(dir / "out-noconf"));

  push_layer_manifest("other", "application/vnd.example", "add('dkms.conf')");
  CHECK(error_kind([&] { fetch_source(layout, "other", dir / "out-other"); }) == ErrorKind::usage);
  CHECK_FALSE(fs::exists(dir / "out-other"));

  // Nothing was left beside the destinations either.
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    CHECK_FALSE(entry.path().filename().string().starts_with("."));
  }
}
