// The sandbox build script run by bash against a small tree (our own test content, so it
// may run on the host): DKMS's order of steps, its exit rules, and that values from
// dkms.conf are interpreted only where DKMS interprets them.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "ckms/builder/build_script.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder;
using ckms::testkit::read_text;
using ckms::testkit::write_text;

namespace {

struct Tree {
  ckms::testkit::TempDir dir{"ckms-script"};
  fs::path build = dir / "dkms/demo/1.0/build";
  fs::path ksrc = dir / "headers";
  fs::path out = dir / "out";
  Tree() {
    fs::create_directories(build);
    fs::create_directories(ksrc);
    fs::create_directories(out);
  }

  DkmsEnvironment env() const {
    DkmsEnvironment env = DkmsEnvironment::for_kernel("6.1.0-9-test");
    env.kernel_source_dir = ksrc.string();
    env.dkms_tree = (dir / "dkms").string();
    env.module = "demo";
    env.module_version = "1.0";
    return env;
  }

  BuildPlan plan(std::string make) const {
    BuildPlan plan;
    plan.kernel_release = "6.1.0-9-test";
    plan.arch = "x86_64";
    plan.build_dir = build.string();
    plan.make_invocation = std::move(make);
    plan.clean_command = "touch cleaned";
    plan.modules = {{"demo.ko", "demo", "/extra", "/updates/dkms", false}};
    return plan;
  }

  ckms::testkit::RunResult run(const BuildPlan& plan) const {
    return ckms::testkit::run({"bash", "-c", build_script(plan, env(), out.string())});
  }
};

void executable(const fs::path& file, const std::string& text) {
  write_text(file, text);
  fs::permissions(file, fs::perms::owner_all);
}

}  // namespace

TEST_CASE("build script: patches, PRE_BUILD, CLEAN, make, POST_BUILD in DKMS's order") {
  Tree t;
  write_text(t.build / "demo.txt", "old\n");
  fs::create_directories(t.build / "patches");
  write_text(t.build / "patches/fix.patch", "--- a/demo.txt\n+++ b/demo.txt\n@@ -1 +1 @@\n-old\n+new\n");
  executable(t.build / "pre.sh", "#!/bin/sh\necho \"pre $1 $(cat demo.txt)\" >> steps\n");
  executable(t.build / "post.sh", "#!/bin/sh\necho post >> steps\n");
  BuildPlan plan = t.plan("echo make >> steps; test -e cleaned && printf module > demo.ko");
  plan.patches = {"fix.patch"};
  plan.pre_build = "pre.sh first";
  plan.post_build = "post.sh";
  const auto r = t.run(plan);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_text(t.build / "steps") == "pre first new\nmake\npost\n");
  CHECK(read_text(t.out / output_file_name(0)) == "module");
  CHECK(r.out.find("ckms: running: echo make") != std::string::npos);
}

TEST_CASE("build script: the make command is eval'd with DKMS's variables, others stay literal") {
  Tree t;
  // $kernelver is DKMS's, so eval sees it; the PRE_BUILD line is word-split, never eval'd.
  BuildPlan plan = t.plan("printf '%s' \"$kernelver\" > demo.ko");
  plan.pre_build = "pre.sh $(touch injected)";
  executable(t.build / "pre.sh", "#!/bin/sh\nprintf '%s|' \"$@\" > args\n");
  const auto r = t.run(plan);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_text(t.out / output_file_name(0)) == "6.1.0-9-test");
  CHECK(read_text(t.build / "args") == "$(touch|injected)|");
  CHECK_FALSE(fs::exists(t.build / "injected"));
}

TEST_CASE("build script: failures exit with the step's code") {
  Tree t;
  SECTION("missing patch") {
    BuildPlan plan = t.plan("printf x > demo.ko");
    plan.patches = {"absent.patch"};
    const auto r = t.run(plan);
    CHECK(r.exit_code == kScriptMissingPatch);
    CHECK(r.out.find("absent.patch as specified in dkms.conf cannot be found") != std::string::npos);
  }
  SECTION("make fails") {
    const auto r = t.run(t.plan("echo compiling; exit 3"));
    CHECK(r.exit_code == kScriptMakeFailed);
    CHECK(describe_script_exit(r.exit_code) == "make failed");
  }
  SECTION("make succeeds without the module") {
    const auto r = t.run(t.plan("true"));
    CHECK(r.exit_code == kScriptModuleMissing);
    CHECK(r.out.find("Build of demo.ko failed") != std::string::npos);
  }
  SECTION("no build dir") {
    fs::remove_all(t.build);
    CHECK(t.run(t.plan("true")).exit_code == kScriptNoBuildDir);
  }
  CHECK_FALSE(fs::exists(t.out / output_file_name(0)));
}

TEST_CASE("build script: like DKMS, PRE_BUILD's status and a non-executable script do not stop the build") {
  Tree t;
  executable(t.build / "pre.sh", "#!/bin/sh\nexit 7\n");
  write_text(t.build / "post.sh", "#!/bin/sh\n");
  BuildPlan plan = t.plan("printf x > demo.ko");
  plan.pre_build = "pre.sh";
  plan.post_build = "post.sh";
  const auto r = t.run(plan);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("the pre_build script exited 7") != std::string::npos);
  CHECK(r.err.find("The post_build script is not executable.") != std::string::npos);
}

TEST_CASE("build script: CC as DKMS sets it from the kernel's .config and .kernelvariables") {
  Tree t;
  write_text(t.ksrc / ".config", "CONFIG_CC_VERSION_TEXT=\"sh (Debian 1) 1\"\n");
  executable(t.build / "pre.sh", "#!/bin/sh\necho \"$CC\" > pre-cc\n");
  BuildPlan plan = t.plan("echo \"[$CC]\" > make-cc; printf x > demo.ko");
  plan.pre_build = "pre.sh";
  SECTION("no .kernelvariables: CC is unset for make") {
    REQUIRE(t.run(plan).exit_code == 0);
    CHECK(read_text(t.build / "pre-cc") == "sh\n");
    CHECK(read_text(t.build / "make-cc") == "[]\n");
  }
  SECTION(".kernelvariables names the compiler") {
    write_text(t.ksrc / ".kernelvariables", "CC = $(CROSS_COMPILE)gcc-12\n");
    REQUIRE(t.run(plan).exit_code == 0);
    CHECK(read_text(t.build / "make-cc") == "[gcc-12]\n");
  }
}

TEST_CASE("build script: across architectures ARCH and CROSS_COMPILE are exported, CC and strip are the target's") {
  Tree t;
  write_text(t.ksrc / ".kernelvariables", "override ARCH = arm64\nCC = $(CROSS_COMPILE)gcc-12\n");
  // A stand-in for the target's strip on PATH: the build machine's strip reads no aarch64 ELF.
  const fs::path bin = t.dir / "bin";
  fs::create_directories(bin);
  executable(bin / "aarch64-linux-gnu-strip", "#!/bin/sh\necho \"$@\" > stripped\n");
  BuildPlan plan = t.plan("echo \"[$ARCH $CROSS_COMPILE $CC]\" > make-env; printf x > demo.ko");
  plan.cross = CrossCompile{"arm64", "aarch64-linux-gnu-"};
  plan.modules[0].strip = true;
  const auto result = ckms::testkit::run(
      {"env", "PATH=" + bin.string() + ":/usr/bin:/bin", "bash", "-c", build_script(plan, t.env(), t.out.string())});
  INFO(result.out << result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(read_text(t.build / "make-env") == "[arm64 aarch64-linux-gnu- aarch64-linux-gnu-gcc-12]\n");
  CHECK(read_text(t.build / "stripped") == "-g demo.ko\n");
}

TEST_CASE("build script: modules land in the output under fixed names, in plan order") {
  Tree t;
  BuildPlan plan = t.plan("mkdir -p sub; printf one > sub/a.ko; printf two > b.ko");
  plan.modules = {{"sub/a.ko", "a", "/extra", "/updates/dkms", false},
                  {"b.ko", "renamed", "/extra", "/updates/dkms", false}};
  REQUIRE(t.run(plan).exit_code == 0);
  CHECK(read_text(t.out / "0.ko") == "one");
  CHECK(read_text(t.out / "1.ko") == "two");
}

TEST_CASE("build script: KBUILD_EXTRA_SYMBOLS for make, Module.symvers to the output") {
  Tree t;
  BuildPlan plan =
      t.plan("printf '%s' \"$KBUILD_EXTRA_SYMBOLS\" > seen; printf m > demo.ko; printf s > Module.symvers");
  plan.extra_symbols = {"/var/lib/dkms/a/1/r/x86_64/module/Module.symvers", "/b/Module.symvers"};
  REQUIRE(t.run(plan).exit_code == 0);
  CHECK(read_text(t.build / "seen") == "/var/lib/dkms/a/1/r/x86_64/module/Module.symvers /b/Module.symvers");
  CHECK(read_text(t.out / "Module.symvers") == "s");

  // No build dependency: nothing exported; no Module.symvers written: none copied.
  Tree u;
  BuildPlan none = u.plan("printf '%s' \"${KBUILD_EXTRA_SYMBOLS-unset}\" > seen; printf m > demo.ko");
  REQUIRE(u.run(none).exit_code == 0);
  CHECK(read_text(u.build / "seen") == "unset");
  CHECK_FALSE(fs::exists(u.out / "Module.symvers"));
}
