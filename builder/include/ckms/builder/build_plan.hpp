#pragma once
// What DKMS would do for one kernel, decided from a DkmsConf: whether BUILD_EXCLUSIVE_*
// excludes the kernel (and why), the make command (MAKE/MAKE_MATCH, clang/LLD additions,
// `make -jN KERNELRELEASE=<kernelver>` as DKMS rewrites it), the patches (PATCH/
// PATCH_MATCH), and which files to collect, strip and name. The builder runs the plan
// inside the sandbox; nothing here touches the file system except KernelConfig::load.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/builder/dkms_conf.hpp"

namespace ckms::builder {

// A kernel's .config, kept as lines because DKMS greps it with regular expressions.
class KernelConfig {
 public:
  static KernelConfig parse(std::string_view text);
  static KernelConfig load(const std::filesystem::path& file);
  // grep -q -E PATTERN: some line matches the POSIX extended regular expression.
  bool grep(const std::string& pattern) const;
  // grep -q TEXT (fixed string anywhere in a line), as DKMS looks for CONFIG_CC_IS_CLANG=y.
  bool contains(std::string_view text) const;

 private:
  std::vector<std::string> lines_;
};

// What kbuild needs to build for another architecture than the one it runs on: its ARCH
// (arm64) and the cross tools' prefix (aarch64-linux-gnu-), as Debian's cross toolchains
// name them.
struct CrossCompile {
  std::string make_arch;
  std::string prefix;
};

// For a kernel of `kernel_arch` built on `build_arch` (both uname -m names): nothing when
// they are alike; refused (kind usage) for an architecture without a known cross toolchain.
std::optional<CrossCompile> cross_compile_for(std::string_view kernel_arch, std::string_view build_arch);

struct KernelTarget {
  std::string release;  // kernelver
  std::string arch = "x86_64";
  // Absent: DKMS skips BUILD_EXCLUSIVE_CONFIG and the clang/LLD checks (no .config).
  std::optional<KernelConfig> config;
  std::optional<CrossCompile> cross;  // when the build runs on another architecture
};

struct ModuleOutput {
  std::string built_path;  // relative to the build dir: BUILT_MODULE_LOCATION + NAME + ".ko"
  std::string dest_name;   // file name in the artifact, without ".ko"
  std::string dest_location;
  std::string install_location;
  bool strip = true;  // run `strip -g` on it before signing, as DKMS does
};

struct BuildPlan {
  std::string kernel_release;
  std::string arch;
  bool excluded = false;
  std::vector<std::string> exclusion_reasons;  // every BUILD_EXCLUSIVE_* that failed
  std::string build_dir;                       // where DKMS builds: $dkms_tree/$module/$version/build
  std::string make_command;                    // as declared or DKMS's default, plus CC=clang/LD=ld.lld
  std::string make_invocation;                 // what DKMS runs: leading "make" → "make -jN KERNELRELEASE=…"
  std::optional<CrossCompile> cross;           // exported as ARCH and CROSS_COMPILE, and on make's command line
  std::string clean_command;
  std::vector<std::string> patches;  // file names under <build dir>/patches/, in order
  std::string pre_build;
  std::string post_build;
  std::vector<ModuleOutput> modules;
  // KBUILD_EXTRA_SYMBOLS for make: the BUILD_DEPENDS' Module.symvers in the sandbox.
  std::vector<std::string> extra_symbols;
};

// BUILD_EXCLUSIVE_KERNEL_MIN/_MAX compare kernel versions as DKMS's VER() does: every run
// of digits padded to three digits, the rest kept, then compared as strings.
std::string dkms_version_key(std::string_view version);

// `[[ text =~ regex ]]`: POSIX extended regular expression, unanchored. A regex that does
// not compile does not match (bash returns 2, which the `[[ ... ]]` treats as false).
bool bash_regex_match(const std::string& text, const std::string& regex);

BuildPlan plan_build(const DkmsConf& conf, const DkmsEnvironment& env, const KernelTarget& kernel);

void to_json(nlohmann::json& j, const BuildPlan& plan);

}  // namespace ckms::builder
