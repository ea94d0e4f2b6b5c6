// The rootless path, for real: this binary runs itself as nobody (setpriv) to apply a layer
// with owners, a device node and setuid bits, and the root side checks what it got.

#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "../../unit/oci/layer_testing.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::testing::TarBuilder;

namespace {

constexpr uid_t kNobody = 65534;

}  // namespace

// Runs as nobody, started by the test below.
TEST_CASE("rootless child: apply the layer given in CKMS_ROOTLESS_DIR", "[.rootless-child]") {
  const char* dir_text = std::getenv("CKMS_ROOTLESS_DIR");
  REQUIRE(dir_text != nullptr);
  const fs::path dir = dir_text;
  REQUIRE(::geteuid() == kNobody);
  ckms::FileReader reader(dir / "layer.tar");
  const auto result = ckms::oci::apply_layer(reader, dir / "target");
  std::ofstream notes(dir / "notes.txt");
  for (const auto& note : result.notes) notes << note << "\n";
}

TEST_CASE("an unprivileged user applies a layer with owners, devices and setuid bits") {
  if (::geteuid() != 0 || !ckms::testkit::have_program("setpriv")) {
    WARN("needs root and setpriv to start an unprivileged child");
    return;
  }
  ckms::testkit::TempDir dir("ckms-rootless");
  ckms::testkit::write_text(dir / "layer.tar", TarBuilder()
                                                   .dir("bin/", 0755)
                                                   .owned_file("bin/su", "elf", 04755, 0, 0)
                                                   .owned_file("bin/wall", "elf", 02755, 0, 5)
                                                   .owned_file("home/u/file", "data", 0640, 1000, 1000)
                                                   .device("dev/null", AE_IFCHR, 1, 3)
                                                   .device("dev/fifo", AE_IFIFO, 0, 0)
                                                   .dir("ro/", 0555)
                                                   .file("ro/inside", "x", 0444)
                                                   .finish());
  fs::create_directory(dir / "target");
  for (const fs::path& path : {dir.path(), dir / "target", dir / "layer.tar"}) {
    REQUIRE(::chown(path.c_str(), kNobody, kNobody) == 0);
  }
  ckms::testkit::RunOptions options;
  options.env["CKMS_ROOTLESS_DIR"] = dir.path().string();
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const auto child = ckms::testkit::run(
      {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", self, "[.rootless-child]"}, options);
  INFO(child.out << child.err);
  REQUIRE(child.exit_code == 0);

  const std::string notes = ckms::testkit::read_text(dir / "notes.txt");
  INFO(notes);
  CHECK_THAT(notes, Catch::Contains("'dev/null'") && Catch::Contains("device node skipped"));
  CHECK_THAT(notes, Catch::Contains("'bin/su'") && Catch::Contains("setuid/setgid bits dropped"));
  CHECK_THAT(notes, Catch::Contains("ownership of"));
  CHECK_FALSE(fs::exists(fs::symlink_status(dir / "target/dev/null")));
  struct stat st {};
  REQUIRE(::lstat((dir / "target/bin/su").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  CHECK(st.st_uid == kNobody);
  REQUIRE(::lstat((dir / "target/bin/wall").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  REQUIRE(::lstat((dir / "target/dev/fifo").c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  REQUIRE(::lstat((dir / "target/ro").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0555);
  CHECK(ckms::testkit::read_text(dir / "target/home/u/file") == "data");
}
