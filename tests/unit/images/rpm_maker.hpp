#pragma once
// Builds small real RPM packages with rpmbuild, so tests read exactly what rpm writes. No
// distribution's kernel-devel can be downloaded here, so the spec mimics Fedora's kernel.spec:
// source package "kernel", binary packages kernel-devel and kernel-debug-devel (each a tree
// under /usr/src/kernels/<uname -r>/ with a kernel-devel-uname-r Provides) and the empty
// kernel-devel-matched.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "testkit.hpp"

namespace ckms::testing {

struct KernelRpmSpec {
  std::string version = "6.1.99";
  std::string release = "100.ckmstest";
  std::optional<int> epoch = std::nullopt;
  std::string payload = "w19.zstdio";  // %_binary_payload: Fedora's default compressor
  std::string target = "x86_64";       // rpmbuild --target
};

// The `uname -r` of the kernel the spec's kernel-devel builds for.
inline std::string kernel_rpm_release(const KernelRpmSpec& spec) {
  return fmt::format("{}-{}.{}", spec.version, spec.release, spec.target);
}

// What one flavour's %install puts in its tree: a Makefile and .config, include/ files, a
// relative and an absolute symlink, a three-name hard link set, an empty file, an
// executable, a read-only file and a private directory.
inline std::string kernel_tree_install(const std::string& tree) {
  return fmt::format(R"(d=%{{buildroot}}/usr/src/kernels/{0}
mkdir -p $d/include/linux $d/include/generated $d/include/config $d/arch/x86/include/asm $d/scripts/basic
mkdir -m 0700 $d/private
printf 'VERSION = 6\nPATCHLEVEL = 1\nKERNELRELEASE = {0}\n' > $d/Makefile
printf 'CONFIG_MODULES=y\nCONFIG_X86_64=y\n' > $d/.config
ln $d/.config $d/include/config/auto.conf
ln $d/.config $d/include/config/auto.conf.old
echo '#define CONFIG_MODULES 1' > $d/include/generated/autoconf.h
echo '#define UTS_RELEASE "{0}"' > $d/include/generated/utsrelease.h
echo '#include <asm/types.h>' > $d/include/linux/module.h
echo 'typedef int s32;' > $d/arch/x86/include/asm/types.h
ln -s ../arch/x86/include/asm $d/include/asm
ln -s /usr/src/kernels/{0} $d/source
: > $d/Module.symvers
printf '#!/bin/sh\nexit 0\n' > $d/scripts/basic/fixdep
chmod 0755 $d/scripts/basic/fixdep
echo 'KEY' > $d/private/signing_key.x509
echo 'read only' > $d/scripts/readonly.txt
chmod 0444 $d/scripts/readonly.txt
)",
                     tree);
}

inline std::string kernel_spec_text(const KernelRpmSpec& spec) {
  const std::string release = "%{version}-%{release}.%{_target_cpu}";
  std::string text = fmt::format(R"(Name: kernel
Version: {}
Release: {}
{}Summary: a kernel-devel look-alike for ckms tests
License: GPL-2.0-only

%description
Test packages laid out as Fedora's kernel-devel.

%package devel
Summary: build tree
Provides: kernel-devel-uname-r = {}
Requires: make, gcc, findutils
%description devel
Build tree.

%package debug-devel
Summary: debug build tree
Provides: kernel-devel-uname-r = {}+debug
Requires: make >= 4.0, gcc
%description debug-devel
Debug build tree.

%package devel-matched
Summary: ties kernel-devel to kernel-core
Requires: kernel-devel = %{{version}}-%{{release}}
%description devel-matched
Nothing.

%install
)",
                                 spec.version, spec.release, spec.epoch ? fmt::format("Epoch: {}\n", *spec.epoch) : "",
                                 release, release);
  text += kernel_tree_install(release);
  text += kernel_tree_install(release + "+debug");
  text += fmt::format(R"(
%files devel
/usr/src/kernels/{0}

%files debug-devel
/usr/src/kernels/{0}+debug

%files devel-matched
)",
                      release);
  return text;
}

struct BuiltRpms {
  std::filesystem::path devel;
  std::filesystem::path debug_devel;
  std::filesystem::path matched;
  std::filesystem::path source;
};

// Runs rpmbuild -ba in `dir` (whose RPMS/ and SRPMS/ it fills) with a fixed build time.
inline BuiltRpms build_kernel_rpms(const std::filesystem::path& dir, const KernelRpmSpec& spec) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const fs::path spec_file = dir / "kernel.spec";
  testkit::write_text(spec_file, kernel_spec_text(spec));
  testkit::RunOptions options;
  options.env["SOURCE_DATE_EPOCH"] = "1700000000";
  const auto result = testkit::run(
      {"rpmbuild", "--quiet", "--define", "_topdir " + dir.string(), "--define", "_binary_payload " + spec.payload,
       "--define", "use_source_date_epoch_as_buildtime 1", "--define", "__os_install_post %{nil}", "--define",
       "debug_package %{nil}", "--target", spec.target, "-ba", spec_file.string()},
      options);
  INFO(result.out << result.err);
  REQUIRE(result.exit_code == 0);
  const std::string nvr = spec.version + "-" + spec.release;
  const fs::path rpms = dir / "RPMS" / spec.target;
  BuiltRpms built{rpms / fmt::format("kernel-devel-{}.{}.rpm", nvr, spec.target),
                  rpms / fmt::format("kernel-debug-devel-{}.{}.rpm", nvr, spec.target),
                  rpms / fmt::format("kernel-devel-matched-{}.{}.rpm", nvr, spec.target),
                  dir / "SRPMS" / fmt::format("kernel-{}.src.rpm", nvr)};
  for (const auto& file : {built.devel, built.debug_devel, built.matched, built.source}) {
    INFO(file);
    REQUIRE(fs::is_regular_file(file));
  }
  return built;
}

// What rpm itself unpacks: `rpm2cpio | cpio -idm` into `into`.
inline void rpm2cpio_unpack(const std::filesystem::path& rpm, const std::filesystem::path& into) {
  std::filesystem::create_directories(into);
  testkit::RunOptions options;
  options.cwd = into;
  const auto result =
      testkit::run({"sh", "-c", "rpm2cpio \"$0\" | cpio -idm --quiet --no-absolute-filenames", rpm.string()}, options);
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
}

}  // namespace ckms::testing
