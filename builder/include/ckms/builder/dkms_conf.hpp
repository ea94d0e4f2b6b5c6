#pragma once
// dkms.conf as DKMS 3.x reads it (dkms's read_conf): the variables DKMS provides to the
// file, the raw shell variables the file leaves behind, and the model with DKMS's own
// defaults and checks applied. Two producers fill RawVariables: the static parser
// (dkms_conf_static.hpp) and evaluation by bash inside the build sandbox
// (dkms_conf_eval.hpp); resolve_dkms_conf() turns either into a DkmsConf.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckms::builder {

// The variables DKMS has set when it sources dkms.conf (read_conf and dkms's globals).
// `arch` is what DKMS uses: `uname -m` (x86_64), not the Debian architecture (amd64).
struct DkmsEnvironment {
  std::string kernelver;
  std::string arch = "x86_64";
  std::string kernel_source_dir;  // default /lib/modules/<kernelver>/build
  std::string dkms_tree = "/var/lib/dkms";
  std::string source_tree = "/usr/src";
  std::string install_tree = "/lib/modules";
  std::string tmp_location = "/tmp";
  // `dkms build -m MODULE -v VERSION`. `dkms add DIR` takes them from the file's own
  // PACKAGE_NAME and PACKAGE_VERSION, so callers read those first and set them here.
  // Empty: the PACKAGE_* values stand in for them where DKMS would use them.
  std::string module;
  std::string module_version;
  std::string running_distribution = "debian";  // decides DEST_MODULE_LOCATION overrides
  int parallel_jobs = 1;

  // DKMS's defaults for one kernel (kernel_source_dir from kernelver).
  static DkmsEnvironment for_kernel(std::string kernelver, std::string arch = "x86_64");
  std::string kernel_config() const { return kernel_source_dir + "/.config"; }
  // Where DKMS copies the source and runs make: $dkms_tree/$module/$module_version/build.
  std::string build_dir(std::string_view package_name, std::string_view package_version) const;
  // Name/value pairs a dkms.conf can read, in a fixed order (what the evaluation script
  // exports and what the static parser expands).
  std::vector<std::pair<std::string, std::string>> variables() const;
};

// A bash variable as DKMS sees it after sourcing: every variable is an array, a scalar is
// element 0. Elements that are set but empty are kept, because DKMS counts them
// (${#NAME[@]}).
using ShellArray = std::map<std::size_t, std::string>;
using RawVariables = std::map<std::string, ShellArray>;

// Every name DKMS 3.x copies out of dkms.conf (dkms_conf_variables in dkms 3.0.10 plus
// BUILD_EXCLUSIVE_KERNEL_MIN/_MAX, which later 3.x releases read). Nothing else that a
// file sets survives read_conf.
const std::vector<std::string_view>& dkms_conf_variable_names();

struct ModuleEntry {
  std::size_t index = 0;
  std::string built_name;      // BUILT_MODULE_NAME, without .ko
  std::string built_location;  // BUILT_MODULE_LOCATION relative to the build dir; "" or ends in '/'
  std::string dest_name;       // DEST_MODULE_NAME, defaults to built_name
  std::string dest_location;   // DEST_MODULE_LOCATION as declared (/kernel…, /updates…, /extra…)
  // Where DKMS would install it on `running_distribution` (Debian: /updates/dkms).
  std::string install_location;
  bool strip = true;  // STRIP: DKMS runs `strip -g` unless it says no
};

// A directive that is read but not acted on by ckms, and why.
struct IgnoredDirective {
  std::string name;
  std::string value;
  std::string reason;
};

struct DkmsConf {
  std::string package_name;
  std::string package_version;
  std::vector<ModuleEntry> modules;
  // Indexed arrays kept raw: DKMS selects among them per kernel (build_plan.hpp).
  ShellArray make;
  ShellArray make_match;
  ShellArray patch;
  ShellArray patch_match;
  std::string clean;  // with DKMS's default filled in
  std::string pre_build;
  std::string post_build;
  std::string build_exclusive_kernel;
  std::string build_exclusive_kernel_min;
  std::string build_exclusive_kernel_max;
  std::string build_exclusive_arch;
  std::string build_exclusive_config;  // whitespace-separated, `!CONFIG_X` negates
  bool build_exclude_forced = false;   // the file set DKMS's internal build_exclude itself
  std::vector<std::string> build_depends;
  bool autoinstall = false;      // any non-empty AUTOINSTALL, as dkms autoinstall tests it
  bool no_weak_modules = false;  // any non-empty NO_WEAK_MODULES
  std::vector<IgnoredDirective> ignored;
  // read_conf's own refusals ("No 'PACKAGE_NAME' directive specified", ...): DKMS would
  // not build this file at all when any is present.
  std::vector<std::string> errors;
  // read_conf's warnings ("Zero modules specified."): DKMS says them and goes on.
  std::vector<std::string> warnings;
  RawVariables raw;  // everything the file left in DKMS's variables

  // Directive names that the file set, in the order of dkms_conf_variable_names().
  std::vector<std::string> directives_set() const;
};

// Applies read_conf's post-processing exactly: module records over the longest of the
// four module arrays, STRIP's y/n/default rules, DEST_MODULE_NAME and BUILT_MODULE_NAME
// defaults, the trailing '/' on BUILT_MODULE_LOCATION, the DEST_MODULE_LOCATION prefix
// check and distribution override, CLEAN's default, and the same error messages. No
// module record is a warning, not an error, as in dkms >= 3.0.11.
DkmsConf resolve_dkms_conf(const RawVariables& raw, const DkmsEnvironment& env);

// First element of a raw variable, or "" when unset.
std::string first_value(const RawVariables& raw, std::string_view name);

}  // namespace ckms::builder
