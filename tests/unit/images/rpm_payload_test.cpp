// RPM payloads unpacked by ckms against `rpm2cpio | cpio -idm` of the same package, and hostile
// payloads (a real rpmbuild header in front of a cpio archive written here) refused by name.
#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ckms/base/error.hpp"
#include "ckms/images/rpm.hpp"
#include "rpm_corpus.hpp"
#include "testkit.hpp"
#include "tree_compare.hpp"

namespace fs = std::filesystem;
namespace images = ckms::images;
using ckms::testing::rpm_corpus;

namespace {

// One member of a "newc" cpio archive, the format rpm writes.
struct CpioMember {
  std::string name;
  unsigned mode = 0100644;
  std::string data;  // content, or a symlink's target
  unsigned ino = 0;
  unsigned links = 1;
};

std::string newc(const std::vector<CpioMember>& members) {
  std::string out;
  auto pad = [&out] {
    while (out.size() % 4 != 0) out += '\0';
  };
  auto add = [&](const CpioMember& m, unsigned ino) {
    out += fmt::format("070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}", ino,
                       m.mode, 0, 0, m.links, 1700000000, m.data.size(), 0, 0, 0, 0, m.name.size() + 1, 0);
    out += m.name;
    out += '\0';
    pad();
    out += m.data;
    pad();
  };
  unsigned ino = 1000;
  for (const auto& member : members) add(member, member.ino != 0 ? member.ino : ++ino);
  add({"TRAILER!!!", 0, "", 0, 1}, 0);
  return out;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A real package (gzip payload) with its payload replaced by `cpio`, gzip-compressed: what a
// hostile package looks like to a reader that, like ckms, does not check rpm signatures.
fs::path hostile_rpm(const fs::path& dir, const std::string& name, const std::string& cpio) {
  const fs::path& real = rpm_corpus().gzip.rpms.devel;
  const auto header = images::read_rpm_header(real);
  ckms::testkit::RunOptions options;
  options.input = cpio;
  const auto gzip = ckms::testkit::run({"gzip", "-n", "-c"}, options);
  REQUIRE(gzip.exit_code == 0);
  const fs::path file = dir / name;
  std::ofstream out(file, std::ios::binary);
  out << read_bytes(real).substr(0, header.payload_offset) << gzip.out;
  return file;
}

ino_t inode(const fs::path& file) {
  struct stat st {};
  REQUIRE(::lstat(file.c_str(), &st) == 0);
  return st.st_ino;
}

}  // namespace

TEST_CASE("an RPM payload unpacks file for file as rpm2cpio | cpio -idm unpacks it") {
  for (const auto* build : rpm_corpus().builds()) {
    for (const auto& file : {build->rpms.devel, build->rpms.debug_devel, build->rpms.matched}) {
      INFO(file);
      ckms::testkit::TempDir dir("ckms-test-");
      ckms::testing::rpm2cpio_unpack(file, dir / "theirs");
      fs::create_directories(dir / "ours");
      const auto result = images::unpack_rpm(file, dir / "ours");
      CHECK(ckms::testing::compare_trees(dir / "theirs", dir / "ours").empty());
      for (const auto& difference : ckms::testing::compare_trees(dir / "theirs", dir / "ours"))
        UNSCOPED_INFO(difference);
      CHECK(result.notes.empty());
    }
  }
  SECTION("a hard link set stays one file with its content") {
    const auto& zstd = rpm_corpus().zstd;
    const std::string release = ckms::testing::kernel_rpm_release(zstd.spec);
    ckms::testkit::TempDir dir("ckms-test-");
    images::unpack_rpm(zstd.rpms.devel, dir.path());
    const fs::path tree = dir / ("usr/src/kernels/" + release);
    CHECK(ckms::testkit::read_text(tree / ".config") == "CONFIG_MODULES=y\nCONFIG_X86_64=y\n");
    CHECK(inode(tree / "include/config/auto.conf") == inode(tree / ".config"));
    CHECK(inode(tree / "include/config/auto.conf.old") == inode(tree / ".config"));
    CHECK(fs::read_symlink(tree / "source") == "/usr/src/kernels/" + release);
    CHECK(fs::read_symlink(tree / "include/asm") == "../arch/x86/include/asm");
  }
}

TEST_CASE("hostile payloads are refused, naming the package and the entry, and nothing lands outside") {
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path outside = dir / "outside";
  fs::create_directories(outside);
  const std::string tree = "./usr/src/kernels/6.6.6-1.x86_64";
  struct Case {
    std::string what;
    std::vector<CpioMember> members;
    std::string refused_entry;
  };
  const std::vector<Case> cases{
      {"dotdot",
       {{tree + "/Makefile", 0100644, "ok\n"}, {tree + "/../../../../../../../outside/pwned", 0100644, "x\n"}},
       tree + "/../../../../../../../outside/pwned"},
      {"absolute-symlink",
       {{tree + "/out", 0120777, outside.string()}, {tree + "/out/pwned", 0100644, "x\n"}},
       tree + "/out/pwned"},
      {"relative-symlink",
       {{tree + "/up", 0120777, "../../../../../../../../../../../../.." + outside.string()},
        {tree + "/up/pwned", 0100644, "x\n"}},
       tree + "/up/pwned"},
      {"absolute-name", {{outside.string() + "/pwned", 0100644, "x\n"}}, outside.string() + "/pwned"},
      {"bare-name", {{"usr/src/kernels/pwned", 0100644, "x\n"}}, "usr/src/kernels/pwned"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const fs::path rpm = hostile_rpm(dir.path(), c.what + ".rpm", newc(c.members));
    const fs::path target = dir / ("target-" + c.what);
    fs::create_directories(target);
    try {
      images::unpack_rpm(rpm, target);
      FAIL("unpacked");
    } catch (const ckms::Error& error) {
      INFO(error.what());
      CHECK(error.kind() == ckms::ErrorKind::refused);
      CHECK_THAT(error.what(), Catch::Contains(c.what + ".rpm") && Catch::Contains("'" + c.refused_entry + "'"));
    }
    CHECK(fs::is_empty(outside));
  }
}

TEST_CASE("hard link sets written here unpack as cpio unpacks them, content on every name") {
  // newc puts a set's content on its last member; three names, content last, as rpm writes it.
  const std::string tree = "./usr/src/kernels/6.6.6-1.x86_64";
  const std::string cpio = newc({{tree + "/a", 0100644, "", 77, 3},
                                 {tree + "/b", 0100644, "", 77, 3},
                                 {tree + "/single", 0100644, "alone\n"},
                                 {tree + "/c", 0100644, "shared\n", 77, 3}});
  ckms::testkit::TempDir dir("ckms-test-");
  const fs::path rpm = hostile_rpm(dir.path(), "links.rpm", cpio);
  fs::create_directories(dir / "theirs");
  ckms::testkit::RunOptions options;
  options.cwd = dir / "theirs";
  options.input = cpio;
  REQUIRE(ckms::testkit::run({"cpio", "-idm", "--quiet"}, options).exit_code == 0);
  fs::create_directories(dir / "ours");
  images::unpack_rpm(rpm, dir / "ours");
  CHECK(ckms::testing::compare_trees(dir / "theirs", dir / "ours").empty());
  const fs::path ours = dir / "ours/usr/src/kernels/6.6.6-1.x86_64";
  CHECK(ckms::testkit::read_text(ours / "a") == "shared\n");
  CHECK(inode(ours / "a") == inode(ours / "c"));
  CHECK(inode(ours / "b") == inode(ours / "c"));
}
