// Collecting a build's output on the host with module-shaped ELF files: checks, signing,
// compression, names, load order, and what a hostile output dir cannot make the host do.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "../kmod/tiny_elf.hpp"
#include "ckms/base/error.hpp"
#include "ckms/builder/build_script.hpp"
#include "ckms/builder/collect.hpp"
#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "ckms/kmod/signature.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder;
using namespace std::string_literals;
using ckms::ErrorKind;

namespace {

constexpr const char* kRelease = "6.1.0-9-test";

std::string module_bytes(const std::string& name, const std::string& vermagic, const std::string& depends = "") {
  const std::string info =
      "license=GPL\0name="s + name + "\0vermagic="s + vermagic + "\0depends="s + depends + "\0srcversion=ABCDEF\0"s;
  return ckms::kmod::test::tiny_elf(info).bytes;
}

std::string bytes_of(const fs::path& file) { return ckms::testkit::read_text(file); }

struct Output {
  ckms::testkit::TempDir dir{"ckms-collect"};
  fs::path out = dir / "out";
  fs::path files = dir / "files";
  BuildPlan plan;
  Output() {
    fs::create_directories(out);
    plan.kernel_release = kRelease;
    plan.arch = "x86_64";
  }
  void add(const std::string& built, const std::string& dest, const std::string& bytes) {
    ckms::testkit::write_text(out / output_file_name(plan.modules.size()), bytes);
    plan.modules.push_back({built, dest, "/extra", "/updates/dkms", true});
  }
  ckms::Error failure(const CollectOptions& options = {}) {
    try {
      collect_modules(plan, out, files, options);
    } catch (const ckms::Error& e) {
      return e;
    }
    FAIL("collect_modules accepted the output");
    throw std::logic_error("unreachable");
  }
};

}  // namespace

TEST_CASE("collect: a module built for the kernel is published under its DKMS name") {
  Output o;
  o.add("src/demo-mod.ko", "demo", module_bytes("demo_mod", kRelease + " SMP mod_unload "s));
  const auto files = collect_modules(o.plan, o.out, o.files, {});
  REQUIRE(files.size() == 1);
  CHECK(files[0].file_name == "demo.ko");
  CHECK(files[0].module_name == "demo_mod");
  CHECK(files[0].srcversion == "ABCDEF");
  CHECK(files[0].signer.empty());
  CHECK(files[0].install_location == "/updates/dkms");
  CHECK(files[0].digest == ckms::digest_of_file(o.files / "demo.ko"));
  CHECK(bytes_of(o.files / "demo.ko") == bytes_of(o.out / "0.ko"));
}

TEST_CASE("collect: wrong kernel, wrong name, missing file are build errors naming the module") {
  Output o;
  SECTION("vermagic of another kernel") {
    o.add("demo.ko", "demo", module_bytes("demo", "6.1.0-8-test SMP "));
    const auto e = o.failure();
    CHECK(e.kind() == ErrorKind::build);
    CHECK(std::string(e.what()).find("vermagic '6.1.0-8-test SMP ' does not name kernel 6.1.0-9-test") !=
          std::string::npos);
  }
  SECTION("a release that only starts the same") {
    o.add("demo.ko", "demo", module_bytes("demo", kRelease + "-extra SMP"s));
    CHECK(o.failure().kind() == ErrorKind::build);
  }
  SECTION("modinfo name differs from the built file") {
    o.add("demo.ko", "demo", module_bytes("other", kRelease + " SMP"s));
    CHECK(std::string(o.failure().what()).find("modinfo names it 'other', not 'demo'") != std::string::npos);
  }
  SECTION("not handed over") {
    o.plan.modules.push_back({"demo.ko", "demo", "/extra", "/updates/dkms", true});
    CHECK(std::string(o.failure().what()).find("did not hand it over") != std::string::npos);
  }
  SECTION("a DEST_MODULE_NAME that is a path") {
    o.add("demo.ko", "../demo", module_bytes("demo", kRelease + " SMP"s));
    CHECK(o.failure().kind() == ErrorKind::build);
    CHECK_FALSE(fs::exists(o.dir / "demo.ko"));
  }
}

TEST_CASE("collect: a symlink or FIFO in the output is never followed to a host file") {
  Output o;
  ckms::testkit::write_text(o.dir / "secret", "host secret");
  o.plan.modules.push_back({"demo.ko", "demo", "/extra", "/updates/dkms", true});
  SECTION("symlink") {
    fs::create_symlink(o.dir / "secret", o.out / "0.ko");
    CHECK(o.failure().kind() == ErrorKind::refused);
  }
  SECTION("fifo") {
    REQUIRE(::mkfifo((o.out / "0.ko").c_str(), 0644) == 0);
    CHECK(o.failure().kind() == ErrorKind::refused);
  }
  SECTION("too large") {
    ckms::testkit::write_text(o.out / "0.ko", std::string(4096, 'x'));
    CollectOptions options;
    options.max_module_bytes = 1024;
    CHECK(o.failure(options).kind() == ErrorKind::refused);
  }
  CHECK_FALSE(fs::exists(o.files / "demo.ko"));
}

TEST_CASE("collect: signed with the given key, then compressed") {
  Output o;
  o.add("demo.ko", "demo", module_bytes("demo", kRelease + " SMP"s));
  ckms::kmod::KeygenOptions keygen;
  keygen.rsa_bits = 2048;
  keygen.common_name = "collect test key";
  ckms::kmod::generate_signing_key(o.dir / "key.pem", o.dir / "cert.pem", keygen);
  const auto key = ckms::kmod::SigningKey::load(o.dir / "key.pem", o.dir / "cert.pem");
  CollectOptions options;
  options.key = &key;
  options.compression = ckms::kmod::Compression::xz;
  const auto files = collect_modules(o.plan, o.out, o.files, options);
  REQUIRE(files.size() == 1);
  CHECK(files[0].file_name == "demo.ko.xz");
  CHECK(files[0].signer == "CN = collect test key");
  const std::string packed = bytes_of(o.files / "demo.ko.xz");
  CHECK(ckms::kmod::detect_compression(packed) == ckms::kmod::Compression::xz);
  const std::string module = ckms::kmod::decompress(packed, ckms::kmod::Compression::xz, 1 << 20, "demo.ko.xz");
  const auto signature = ckms::kmod::split_signature(module, "demo.ko");
  REQUIRE(signature);
  CHECK(signature->content == bytes_of(o.out / "0.ko"));
  CHECK(ckms::kmod::read_signer(signature->cms_der, "demo.ko").signer_name == "collect test key");
}

TEST_CASE("load order: dependencies inside the set first, declared order otherwise") {
  const auto file = [](std::string name, std::vector<std::string> depends) {
    ckms::artifact::ModuleFile f;
    f.module_name = std::move(name);
    f.depends = std::move(depends);
    return f;
  };
  const auto names = [](const std::vector<ckms::artifact::ModuleFile>& files) {
    std::vector<std::string> out;
    for (const auto& f : files) out.push_back(f.module_name);
    return out;
  };
  CHECK(names(in_load_order({file("a", {}), file("b", {})})) == std::vector<std::string>{"a", "b"});
  CHECK(names(in_load_order({file("top", {"mid", "crc32c"}), file("mid", {"base"}), file("base", {}),
                             file("other", {})})) == std::vector<std::string>{"base", "mid", "top", "other"});
  CHECK_THROWS_AS(in_load_order({file("a", {"b"}), file("b", {"a"})}), ckms::Error);
}

TEST_CASE("kbuild module names: base name, dashes become underscores") {
  CHECK(kbuild_module_name("src/my-mod.ko") == "my_mod");
  CHECK(kbuild_module_name("plain.ko") == "plain");
}
