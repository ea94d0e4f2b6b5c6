// Each block names the part of dkms 3.0.10 (/usr/sbin/dkms) it reproduces, because a
// difference here is a difference between a ckms build and a DKMS build.
#include "ckms/builder/build_script.hpp"

#include <fmt/format.h>

#include "shell_quote.hpp"

namespace ckms::builder {
namespace {

std::string array(const std::vector<std::string>& items) {
  std::string out = "(";
  for (const auto& item : items) out += " " + shell_quoted(item);
  return out + " )";
}

}  // namespace

std::string describe_script_exit(int code) {
  switch (code) {
    case 0: return {};
    case kScriptMissingPatch: return "a patch named in dkms.conf is missing";
    case kScriptPatchFailed: return "a patch did not apply";
    case kScriptMakeFailed: return "make failed";
    case kScriptModuleMissing: return "make did not produce every module dkms.conf names";
    case kScriptCopyFailed: return "copying a built module to the output failed";
    case kScriptNoBuildDir: return "the build directory is missing in the sandbox";
    default: return fmt::format("the build script exited {}", code);
  }
}

std::string output_file_name(std::size_t index) { return fmt::format("{}.ko", index); }

namespace {

// The values the script body reads, as shell assignments.
std::string script_variables(const BuildPlan& plan, const DkmsEnvironment& env, const std::string& output_dir) {
  std::vector<std::string> built;
  std::vector<std::string> strip;
  for (const auto& module : plan.modules) {
    built.push_back(module.built_path);
    strip.push_back(module.strip ? "y" : "n");
  }

  std::string script;
  // DKMS's own variables stay visible to what it evals (MAKE, CLEAN), as in its shell.
  for (const auto& [name, value] : env.variables()) {
    script += fmt::format("{}={}\n", name, shell_quoted(value));
  }
  script += fmt::format("__ckms_build_dir={}\n", shell_quoted(plan.build_dir));
  script += fmt::format("__ckms_ksrc={}\n", shell_quoted(env.kernel_source_dir));
  script += fmt::format("__ckms_out={}\n", shell_quoted(output_dir));
  script += fmt::format("__ckms_patches={}\n", array(plan.patches));
  script += fmt::format("__ckms_pre_build={}\n", shell_quoted(plan.pre_build));
  script += fmt::format("__ckms_post_build={}\n", shell_quoted(plan.post_build));
  script += fmt::format("__ckms_clean={}\n", shell_quoted(plan.clean_command));
  script += fmt::format("__ckms_make={}\n", shell_quoted(plan.make_invocation));
  // The target's strip: the build machine's own does not read another architecture's ELF.
  script += fmt::format("__ckms_strip_tool={}\n", shell_quoted((plan.cross ? plan.cross->prefix : "") + "strip"));
  // Exported before CC is read from .kernelvariables, whose CC is $(CROSS_COMPILE)gcc-<v>.
  if (plan.cross) {
    script += fmt::format("export ARCH={} CROSS_COMPILE={}\n", shell_quoted(plan.cross->make_arch),
                          shell_quoted(plan.cross->prefix));
  }
  script += fmt::format("__ckms_modules={}\n", array(built));
  script += fmt::format("__ckms_extra_symbols={}\n", array(plan.extra_symbols));
  script += fmt::format("__ckms_strip={}\n", array(strip));
  script += fmt::format("__ckms_what={}\n", shell_quoted(fmt::format("{} ({})", plan.kernel_release, plan.arch)));
  script += fmt::format("__ckms_out_names={}\n", [&] {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < plan.modules.size(); ++i) names.push_back(output_file_name(i));
    return array(names);
  }());

  // The script's own failures exit with the codes the host decodes (BuildScriptExit).
  script += fmt::format(
      "__ckms_exit_missing_patch={}\n__ckms_exit_patch_failed={}\n__ckms_exit_make_failed={}\n"
      "__ckms_exit_module_missing={}\n__ckms_exit_copy_failed={}\n__ckms_exit_no_build_dir={}\n",
      static_cast<int>(kScriptMissingPatch), static_cast<int>(kScriptPatchFailed), static_cast<int>(kScriptMakeFailed),
      static_cast<int>(kScriptModuleMissing), static_cast<int>(kScriptCopyFailed), static_cast<int>(kScriptNoBuildDir));
  return script;
}

// What dkms build does once the variables are set.
constexpr std::string_view kScriptBody = R"SCRIPT(
__ckms_say() { printf 'ckms: %s\n' "$*"; }
__ckms_fail() { local code=$1; shift; printf 'ckms: error: %s\n' "$*"; exit "$code"; }

# run_build_script: the first word must be an executable file of the build dir; the
# command line is word-split, not eval'd; its exit status is not checked by DKMS.
run_build_script() {
  local run
  [[ $2 ]] || return 0
  run="$__ckms_build_dir/$2"
  if [[ -x ${run%% *} ]]; then
    echo ""
    echo "Running the $1 script:"
    ( cd "$__ckms_build_dir/" && exec $run )
    local status=$?
    ((status == 0)) || __ckms_say "the $1 script exited $status; DKMS goes on regardless, and so does ckms"
  else
    echo ""
    echo "Warning: The $1 script is not executable." >&2
  fi
}

# prepare_build
cd -- "$__ckms_build_dir" || __ckms_fail "$__ckms_exit_no_build_dir" "no build directory $__ckms_build_dir"
__ckms_say "building in $__ckms_build_dir for kernel $__ckms_what"
for __ckms_p in "${__ckms_patches[@]}"; do
  [[ -e $__ckms_build_dir/patches/$__ckms_p ]] ||
    __ckms_fail "$__ckms_exit_missing_patch" "Patch $__ckms_p as specified in dkms.conf cannot be found in $__ckms_build_dir/patches/."
  __ckms_say "applying patch $__ckms_p"
  patch -p1 < "./patches/$__ckms_p" || __ckms_fail "$__ckms_exit_patch_failed" "Application of patch $__ckms_p failed."
done
if [[ -e $__ckms_ksrc/.config ]]; then
  cc=$(sed -n 's|^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*"|\1|p' "$__ckms_ksrc/.config")
  if command -v "$cc" >/dev/null; then
    export CC="$cc"
  fi
fi
run_build_script pre_build "$__ckms_pre_build"

# actual_build
if [ -f "$__ckms_ksrc/.kernelvariables" ]; then
  export CC=$(echo -e "show-%:\n\t@echo \$(\$*)\ninclude $__ckms_ksrc/.kernelvariables" | make -f - show-CC)
else
  unset CC
fi
(eval "$__ckms_clean") >/dev/null 2>&1
# ckms: the BUILD_DEPENDS' symbols, for modpost (kbuild reads KBUILD_EXTRA_SYMBOLS from the
# environment; a make command line that sets it wins).
if ((${#__ckms_extra_symbols[@]})); then
  export KBUILD_EXTRA_SYMBOLS="${__ckms_extra_symbols[*]}"
  __ckms_say "KBUILD_EXTRA_SYMBOLS=$KBUILD_EXTRA_SYMBOLS (BUILD_DEPENDS)"
fi
__ckms_say "running: $__ckms_make"
(eval "{ $__ckms_make; }")
__ckms_status=$?
((__ckms_status == 0)) || __ckms_fail "$__ckms_exit_make_failed" "Bad return status $__ckms_status for module build on kernel: $__ckms_what"
for __ckms_i in "${!__ckms_modules[@]}"; do
  [[ -e ${__ckms_modules[$__ckms_i]} ]] ||
    __ckms_fail "$__ckms_exit_module_missing" "Build of ${__ckms_modules[$__ckms_i]} failed for: $__ckms_what (make did not create it)"
done
for __ckms_i in "${!__ckms_modules[@]}"; do
  __ckms_m=${__ckms_modules[$__ckms_i]}
  if [[ ${__ckms_strip[$__ckms_i]} == y ]]; then
    "$__ckms_strip_tool" -g "$__ckms_m" || __ckms_say "strip -g $__ckms_m failed; DKMS goes on regardless"
  fi
  cp -f -- "$__ckms_m" "$__ckms_out/${__ckms_out_names[$__ckms_i]}" ||
    __ckms_fail "$__ckms_exit_copy_failed" "cannot copy $__ckms_m to the output"
done
# ckms: the symbols these modules export, published so that other packages can be built
# against this one.
if [[ -f $__ckms_build_dir/Module.symvers && ! -L $__ckms_build_dir/Module.symvers ]]; then
  cp -f -- "$__ckms_build_dir/Module.symvers" "$__ckms_out/Module.symvers" ||
    __ckms_fail "$__ckms_exit_copy_failed" "cannot copy Module.symvers to the output"
fi
run_build_script post_build "$__ckms_post_build"
__ckms_say "build finished"
)SCRIPT";

}  // namespace

std::string build_script(const BuildPlan& plan, const DkmsEnvironment& env, const std::string& output_dir) {
  return fmt::format(
      "# Generated by ckms: `dkms build` of one module for one kernel, inside the build sandbox.\n"
      "shopt -s extglob\n{}{}",
      script_variables(plan, env, output_dir), kScriptBody);
}

}  // namespace ckms::builder
