// A hostile-layer corpus generated at test time. Every case is either refused with the
// offending entry named, or neutralised as docs/layers.md says; in every case nothing outside
// the target changes (the whole parent directory, sentinel included, is compared).

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "../../unit/oci/layer_testing.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/layer_rootless.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "layer_tree.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::testing::TarBuilder;
using ckms::testing::TarCompression;

namespace {

// Everything under `base` except the target itself.
ckms::testing::Tree outside_listing(const fs::path& base) {
  ckms::testing::Tree all = ckms::testing::describe_tree(base, ckms::testing::TreeOptions{true, true});
  std::erase_if(all, [](const auto& item) { return item.first.starts_with("target/"); });
  return all;
}

struct Outcome {
  bool refused = false;
  std::string message;
};

struct Sandbox {
  ckms::testkit::TempDir base{"ckms-hostile"};
  fs::path target = base / "target";
  fs::path sentinel = base / "sentinel";

  Sandbox() {
    fs::create_directories(target);
    fs::create_directories(sentinel / "sub");
    ckms::testkit::write_text(sentinel / "canary", "original\n");
  }

  Outcome apply(ckms::Reader& reader, ckms::oci::UnpackOptions options = {}) {
    options.layer_name = "hostile";
    const ckms::testing::Tree before = outside_listing(base.path());
    Outcome outcome;
    try {
      ckms::oci::apply_layer(reader, target, options);
    } catch (const ckms::Error& e) {
      outcome.message = e.what();
      outcome.refused = e.kind() == ckms::ErrorKind::refused;
      if (!outcome.refused) FAIL("failed without a refusal: " << e.what());
    }
    const ckms::testing::Tree after = outside_listing(base.path());
    INFO(ckms::testing::tree_difference(before, after));
    CHECK(before == after);
    CHECK(ckms::testkit::read_text(sentinel / "canary") == "original\n");
    return outcome;
  }
  Outcome apply(const std::string& tar, ckms::oci::UnpackOptions options = {}) {
    ckms::StringReader reader(tar);
    return apply(reader, options);
  }
};

void expect_refused(const Outcome& outcome, const std::string& entry) {
  CHECK(outcome.refused);
  CHECK_THAT(outcome.message, Catch::Contains("hostile") && Catch::Contains("'" + entry + "'"));
}

// An endless run of identical directory headers: as many entries as asked, no memory.
class RepeatedEntries final : public ckms::Reader {
 public:
  RepeatedEntries(std::string header, std::uint64_t count) : header_(std::move(header)), left_(count) {}
  std::size_t read(std::span<std::byte> buffer) override {
    std::size_t n = 0;
    while (n + header_.size() <= buffer.size() && left_ > 0) {
      std::memcpy(buffer.data() + n, header_.data(), header_.size());
      n += header_.size();
      --left_;
    }
    if (left_ == 0 && n == 0 && end_blocks_ > 0) {
      const std::size_t zeros = std::min<std::size_t>(buffer.size(), end_blocks_);
      std::memset(buffer.data(), 0, zeros);
      end_blocks_ -= zeros;
      return zeros;
    }
    return n;
  }

 private:
  std::string header_;
  std::uint64_t left_;
  std::size_t end_blocks_ = 1024;
};

}  // namespace

TEST_CASE("hostile names: climbing is refused, a leading slash is stripped") {
  {
    Sandbox box;
    expect_refused(box.apply(TarBuilder().file("../x", "pwn").finish()), "../x");
  }
  {
    Sandbox box;
    expect_refused(box.apply(TarBuilder().dir("a/").file("a/../../x", "pwn").finish()), "a/../../x");
  }
  {
    Sandbox box;
    CHECK_FALSE(box.apply(TarBuilder().file("/abs", "data").finish()).refused);
    CHECK(ckms::testkit::read_text(box.target / "abs") == "data");
  }
  for (const char* alias : {"a/./b", "a//b"}) {
    Sandbox box;
    expect_refused(box.apply(TarBuilder().file(alias, "x").finish()), alias);
  }
  {
    Sandbox box;
    const std::string long_name = std::string(2100, 'a') + "/" + std::string(2100, 'b');
    expect_refused(box.apply(TarBuilder().file(long_name, "x").finish()), long_name);
    const std::string long_component = std::string(300, 'c');
    expect_refused(box.apply(TarBuilder().file(long_component, "x").finish()), long_component);
  }
}

TEST_CASE("hostile symlinks are stored but never written through") {
  {
    Sandbox box;
    const auto outcome = box.apply(TarBuilder().symlink("l", box.sentinel.string()).file("l/pwn", "x").finish());
    expect_refused(outcome, "l/pwn");
    CHECK(fs::is_symlink(box.target / "l"));
  }
  {
    Sandbox box;  // the same through /tmp, where an extractor that follows would create it
    const std::string outside = "/tmp/ckms-outside-" + std::to_string(::getpid());
    expect_refused(box.apply(TarBuilder().symlink("l", outside).file("l/pwn", "x").finish()), "l/pwn");
    CHECK_FALSE(fs::exists(outside));
  }
  {
    Sandbox box;  // a file entry over a planted symlink replaces the link
    CHECK_FALSE(box.apply(TarBuilder().symlink("l", (box.sentinel / "canary").string()).file("l", "replaced").finish())
                    .refused);
    CHECK_FALSE(fs::is_symlink(box.target / "l"));
    CHECK(ckms::testkit::read_text(box.target / "l") == "replaced");
  }
  {
    Sandbox box;
    expect_refused(box.apply(TarBuilder().symlink("up", "..").file("up/x", "x").finish()), "up/x");
  }
  {
    Sandbox box;
    expect_refused(box.apply(TarBuilder().dir("a/").symlink("a/b", "../..").dir("a/b/sentinel/").finish()),
                   "a/b/sentinel/");
  }
  {
    Sandbox box;  // a chain whose last hop climbs out
    expect_refused(
        box.apply(TarBuilder().symlink("c2", "../sentinel").symlink("c1", "c2").file("c1/canary", "x").finish()),
        "c1/canary");
  }
  {
    Sandbox box;  // a directory entry over a symlink becomes a real directory
    CHECK_FALSE(
        box.apply(TarBuilder().symlink("s", box.sentinel.string()).dir("s/").file("s/f", "inside").finish()).refused);
    CHECK(fs::is_directory(fs::symlink_status(box.target / "s")));
    CHECK(ckms::testkit::read_text(box.target / "s/f") == "inside");
  }
  {
    Sandbox box;  // a file over a directory replaces the whole directory
    CHECK_FALSE(box.apply(TarBuilder().dir("d/").file("d/f", "1").file("d", "2").finish()).refused);
    CHECK(ckms::testkit::read_text(box.target / "d") == "2");
  }
}

TEST_CASE("hostile hard links are refused") {
  {
    Sandbox box;
    expect_refused(box.apply(TarBuilder().hardlink("h", "/etc/passwd").finish()), "h");
    CHECK_FALSE(fs::exists(box.target / "h"));
  }
  {
    Sandbox box;
    expect_refused(box.apply(TarBuilder().hardlink("h", "../sentinel/canary").finish()), "h");
  }
  {
    Sandbox box;
    expect_refused(box.apply(TarBuilder().symlink("s", box.sentinel.string()).hardlink("h", "s/canary").finish()), "h");
    CHECK_FALSE(fs::exists(box.target / "h"));
  }
  {
    Sandbox box;  // a link to a symlink would be a second pointer out
    expect_refused(box.apply(TarBuilder().symlink("s", (box.sentinel / "canary").string()).hardlink("h", "s").finish()),
                   "h");
  }
}

TEST_CASE("hostile whiteouts are refused") {
  for (const char* name : {".wh...", "sub/.wh...", "../.wh.x", ".wh.."}) {
    Sandbox box;
    expect_refused(box.apply(TarBuilder().file(name, "").finish()), name);
  }
  {
    Sandbox box;
    expect_refused(box.apply(TarBuilder().symlink("d", box.sentinel.string()).file("d/.wh..wh..opq", "").finish()),
                   "d/.wh..wh..opq");
  }
  {
    Sandbox box;  // even a link that stays inside is not emptied through
    const auto outcome =
        box.apply(TarBuilder().file("real/keep", "k").symlink("d", "real").file("d/.wh..wh..opq", "").finish());
    expect_refused(outcome, "d/.wh..wh..opq");
    CHECK(fs::exists(box.target / "real/keep"));
  }
  {
    Sandbox box;
    expect_refused(box.apply(TarBuilder().symlink("d", box.sentinel.string()).file("d/.wh.canary", "").finish()),
                   "d/.wh.canary");
  }
}

TEST_CASE("decompression bombs are stopped at the header, not filled") {
  {
    Sandbox box;  // GNU sparse entry: 10 GB declared, a few hundred bytes compressed
    const fs::path bomb_source = box.base / "bomb-source";
    fs::create_directory(bomb_source);
    REQUIRE(ckms::testkit::run({"truncate", "-s", "10G", (bomb_source / "zeros").string()}).exit_code == 0);
    const fs::path bomb = box.base / "bomb.tar.gz";
    REQUIRE(ckms::testkit::run(
                {"tar", "-C", bomb_source.string(), "-S", "--hole-detection=seek", "-czf", bomb.string(), "zeros"})
                .exit_code == 0);
    CHECK(fs::file_size(bomb) < 10000);
    const std::string tar = ckms::read_file(bomb, 1 << 20);
    fs::remove_all(bomb_source);
    fs::remove(bomb);
    expect_refused(box.apply(tar), "zeros");
    CHECK_FALSE(fs::exists(box.target / "zeros"));
  }
  {
    Sandbox box;  // a pax header declaring 10 GB, then zeros through gzip, cut short
    const auto header = ckms::testkit::run({"python3", "-c",
                                            "import sys, tarfile; i = tarfile.TarInfo('zeros'); i.size = 10 << 30; "
                                            "sys.stdout.buffer.write(i.tobuf(tarfile.PAX_FORMAT) + bytes(1 << 22))"});
    REQUIRE(header.exit_code == 0);
    ckms::testkit::RunOptions gzip;
    gzip.input = header.out;
    const auto gz = ckms::testkit::run({"gzip", "-c"}, gzip);
    REQUIRE(gz.exit_code == 0);
    expect_refused(box.apply(gz.out), "zeros");
    CHECK_FALSE(fs::exists(box.target / "zeros"));
  }
  {
    Sandbox box;  // many small files, each allowed, together over the total
    TarBuilder builder(TarCompression::gzip);
    for (int i = 0; i < 100; ++i) builder.file("f" + std::to_string(i), std::string(1 << 20, '\0'));
    ckms::oci::UnpackOptions options;
    options.limits.max_total_bytes = 20 << 20;
    expect_refused(box.apply(builder.finish(), options), "f20");
    CHECK(fs::exists(box.target / "f19"));
    CHECK_FALSE(fs::exists(box.target / "f20"));
  }
}

TEST_CASE("more entries than the default limit stop at the first one over") {
  Sandbox box;
  const auto header = ckms::testkit::run({"python3", "-c",
                                          "import sys, tarfile; i = tarfile.TarInfo('d/'); i.type = tarfile.DIRTYPE; "
                                          "sys.stdout.buffer.write(i.tobuf(tarfile.USTAR_FORMAT))"});
  REQUIRE(header.exit_code == 0);
  REQUIRE(header.out.size() == 512);
  RepeatedEntries reader(header.out, 1'000'001);
  const Outcome outcome = box.apply(reader);
  expect_refused(outcome, "d/");
  CHECK_THAT(outcome.message, Catch::Contains("1000000"));
}

TEST_CASE("device nodes and setuid files as root keep what root may keep") {
  if (::geteuid() != 0) {
    WARN("not root: covered by the rootless test");
    return;
  }
  Sandbox box;
  const std::string tar = TarBuilder()
                              .device("dev/null", AE_IFCHR, 1, 3)
                              .owned_file("bin/su", "elf", 04755, 0, 0)
                              .owned_file("bin/wall", "elf", 02755, 0, 5)
                              .finish();
  ckms::StringReader reader(tar);
  ckms::oci::UnpackOptions options;
  options.privileged_bits = true;
  const auto result = ckms::oci::apply_layer(reader, box.target, options);
  struct stat st {};
  REQUIRE(::lstat((box.target / "bin/su").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 04755);
  REQUIRE(::lstat((box.target / "dev/null").c_str(), &st) == 0);
  if (ckms::oci::Privileges::of_current_process().mknod) {
    CHECK(S_ISCHR(st.st_mode));
  }
}

// A tree unpacked as root for a sandbox must not hand local users a setuid-root binary or
// a file capability (issue: local root from the unpack cache).
TEST_CASE("as root, setuid/setgid bits and file capabilities are dropped unless asked for") {
  if (::geteuid() != 0) {
    WARN("not root: an unprivileged unpack never keeps them (layer_rootless.cpp)");
    return;
  }
  Sandbox box;
  // A pax header carrying a v2 capability set (CAP_NET_RAW permitted, effective), as
  // `setcap cap_setuid+ep` leaves it and GNU tar --xattrs records it.
  const auto made =
      ckms::testkit::run({"python3", "-c",
                          "import io, struct, sys, tarfile\n"
                          "out = io.BytesIO()\n"
                          "t = tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT)\n"
                          "cap = struct.pack('<IIIII', 0x02000001, 1 << 13, 0, 0, 0).decode('latin-1')\n"
                          "for name, mode, hdrs in (('bin/su', 0o4755, {}), ('bin/wall', 0o2755, {}),\n"
                          "                         ('bin/ping', 0o755, {'SCHILY.xattr.security.capability': cap})):\n"
                          "    i = tarfile.TarInfo(name); i.mode = mode; i.size = 3; i.pax_headers = hdrs\n"
                          "    t.addfile(i, io.BytesIO(b'elf'))\n"
                          "t.close(); sys.stdout.buffer.write(out.getvalue())\n"});
  REQUIRE(made.exit_code == 0);
  ckms::StringReader reader(made.out);
  const auto result = ckms::oci::apply_layer(reader, box.target);
  for (const char* name : {"bin/su", "bin/wall", "bin/ping"}) {
    INFO(name);
    struct stat st {};
    REQUIRE(::lstat((box.target / name).c_str(), &st) == 0);
    CHECK((st.st_mode & (S_ISUID | S_ISGID)) == 0);
    CHECK(st.st_uid == 0);
    CHECK(::getxattr((box.target / name).c_str(), ckms::oci::kCapabilityXattr, nullptr, 0) < 0);
  }
  CHECK_THAT(result.notes.back(), Catch::Contains("of 3 entries dropped"));

  // Asked for, they are kept (the same layer through the image builder's path).
  Sandbox kept;
  ckms::StringReader again(made.out);
  ckms::oci::UnpackOptions options;
  options.privileged_bits = true;
  ckms::oci::apply_layer(again, kept.target, options);
  struct stat st {};
  REQUIRE(::lstat((kept.target / "bin/su").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 04755);
  CHECK(::getxattr((kept.target / "bin/ping").c_str(), ckms::oci::kCapabilityXattr, nullptr, 0) == 20);
}
