#pragma once
// Evaluation of dkms.conf by bash inside the build sandbox, the source of truth for builds:
// the script sets DKMS's variables, sources the file exactly as DKMS's safe_source does
// (in a subshell with stdout discarded, then the re-export through `echo` and a second
// `source`), and dumps every DKMS variable as NUL-separated records on stdout. The host
// only generates the script and parses its output; it never runs the file.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/builder/dkms_conf.hpp"

namespace ckms::builder {

// Upper bound on the dump a script may print (also the reader's limit in the sandbox).
inline constexpr std::size_t kMaxEvaluationOutputBytes = 8 << 20;

// A bash script that, run with `bash -- SCRIPT` where `conf_path` is the dkms.conf inside
// the sandbox, changes to the file's directory, sources it and writes the dump to stdout.
// Anything the file itself prints goes to stderr. Exit status 0 when the dump is complete.
// Each of `overrides` (paths in the sandbox) is then read the same way, in order, as DKMS
// reads /etc/dkms/<module>.conf after dkms.conf: it sees the values so far and may change them.
std::string evaluation_script(const DkmsEnvironment& env, const std::string& conf_path,
                              const std::vector<std::string>& overrides = {});

// What `ckms build --conf-override ARG` reads after dkms.conf: for `NAME=VALUE` or
// `NAME[N]=VALUE` (NAME a bash variable name), that one assignment with VALUE taken
// literally; otherwise ARG names a file (regular, at most 1 MiB) whose text is read, like
// /etc/dkms/<module>.conf. A usage error names ARG when it is neither.
std::string conf_override_text(std::string_view argument);

// Parses the dump: records "v\0NAME\0INDEX\0VALUE\0" and a final "end\0COUNT\0". Throws a
// usage error naming `where` on anything else (unknown name, bad index, missing end), so a
// truncated or forged dump is never taken for a result.
RawVariables parse_evaluation_output(std::string_view output, std::string_view where);

}  // namespace ckms::builder
