#pragma once
// A static reader for the part of bash that dkms.conf files use: assignments (NAME=,
// NAME[N]=, NAME+=, export/readonly NAME=), single and double quotes, backslash escapes,
// line continuations, comments, and $VAR / ${VAR} / ${VAR[N]} expansion of DKMS's
// variables and of variables set earlier in the file. It never runs anything. What it
// cannot honour (command substitution, if/case/for/while, functions, commands,
// pipelines, arithmetic, parameter operators) is reported with its line, and every DKMS
// variable whose value depends on it is left undetermined instead of guessed.
//
// It also replays what DKMS's safe_source does after sourcing: each variable is written
// out as NAME[i]="value" through an unquoted `echo` (whitespace collapses) and sourced
// again in DKMS's own shell (quotes and $ in values are interpreted a second time).

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/builder/dkms_conf.hpp"

namespace ckms::builder {

// dkms.conf files are a few kilobytes; a larger one is refused before reading.
inline constexpr std::size_t kMaxDkmsConfBytes = 1 << 20;

// Text of the file as a message shows it: backquoted, cut after `limit` bytes, control
// characters, backslashes and non-ASCII bytes escaped, so that no message carries a whole
// line of the input verbatim or a terminal escape sequence.
std::string quote_input(std::string_view text, std::size_t limit = 32);

struct StaticFinding {
  std::size_t line = 0;
  std::string construct;  // "command substitution", "if", "command `pushd`", ...
  std::string detail;
};

struct StaticParseResult {
  RawVariables variables;  // DKMS variables whose value is known exactly
  // DKMS variables (names from dkms_conf_variable_names()) whose value, or whether they
  // are set at all, depends on something this reader does not honour.
  std::vector<std::string> undetermined;
  std::vector<StaticFinding> unsupported;
  std::vector<StaticFinding> notes;  // honoured, but worth a look (unset variable, ...)

  // True when the variables are exactly what DKMS would read.
  bool exact() const { return unsupported.empty() && undetermined.empty(); }
};

// `where` names the input in messages (a path, or "<inline>").
StaticParseResult parse_dkms_conf_static(std::string_view text, const DkmsEnvironment& env,
                                         std::string_view where = "dkms.conf");
// Reads the file as the build does (a regular file, never through a symlink, at most
// kMaxDkmsConfBytes) and parses it.
StaticParseResult parse_dkms_conf_static_file(const std::filesystem::path& file, const DkmsEnvironment& env);

}  // namespace ckms::builder
