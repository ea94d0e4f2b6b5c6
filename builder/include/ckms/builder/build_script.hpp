#pragma once
// The bash script that runs one planned build inside the sandbox, step for step what
// `dkms build` does in prepare_build and actual_build (dkms 3.0.10): patches, CC from the
// kernel's .config, PRE_BUILD, CC from .kernelvariables, CLEAN, the make invocation, the
// check that every module exists, `strip -g`, POST_BUILD. Where ckms departs from DKMS it
// is for the sandbox: modules are copied to the output dir by index instead of installed,
// and signing and compression happen on the host afterwards.

#include <string>

#include "ckms/builder/build_plan.hpp"
#include "ckms/builder/dkms_conf.hpp"

namespace ckms::builder {

// Exit codes the script uses for its own failures, so the host can say which step failed
// without parsing the log. Anything else is the exit code of the failing command itself.
enum BuildScriptExit : int {
  kScriptMissingPatch = 90,
  kScriptPatchFailed = 91,
  kScriptMakeFailed = 92,
  kScriptModuleMissing = 93,
  kScriptCopyFailed = 94,
  kScriptNoBuildDir = 95,
};

// What a script exit code means, for the summary ("make failed", ...); empty for 0.
std::string describe_script_exit(int code);

// The name module `index` of the plan gets in the output dir. Plain and fixed, so the
// host never derives a path from a name the build chose.
std::string output_file_name(std::size_t index);

// The script for `plan` (already decided for this kernel), to run as `bash -c SCRIPT`.
// `env` gives the kernel source dir and the build dir DKMS would use; the build dir must
// already hold the source copy. Every value from dkms.conf enters the script as a quoted
// literal and is interpreted by bash exactly where DKMS interprets it (eval of MAKE and
// CLEAN, word splitting of PRE_BUILD and POST_BUILD), never elsewhere.
std::string build_script(const BuildPlan& plan, const DkmsEnvironment& env, const std::string& output_dir);

}  // namespace ckms::builder
