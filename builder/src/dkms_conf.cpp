// read_conf's post-processing (dkms 3.0.10, /usr/sbin/dkms), statement by statement, with
// the later 3.x changes named where they apply.
#include "ckms/builder/dkms_conf.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace ckms::builder {
namespace {

bool starts_with_any(std::string_view text, std::initializer_list<std::string_view> prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](std::string_view p) { return text.starts_with(p); });
}

std::string element(const RawVariables& raw, std::string_view name, std::size_t index) {
  const auto it = raw.find(std::string(name));
  if (it == raw.end()) return {};
  const auto e = it->second.find(index);
  return e == it->second.end() ? std::string() : e->second;
}

std::size_t count(const RawVariables& raw, std::string_view name) {
  const auto it = raw.find(std::string(name));
  return it == raw.end() ? 0 : it->second.size();
}

ShellArray array(const RawVariables& raw, std::string_view name) {
  const auto it = raw.find(std::string(name));
  return it == raw.end() ? ShellArray{} : it->second;
}

// override_dest_module_location: Debian and others install every DKMS module under one
// directory whatever the file declares.
std::string override_dest_location(const std::string& declared, const std::string& distribution) {
  if (starts_with_any(distribution, {"fedora", "rhel", "ovm"})) return "/extra";
  if (starts_with_any(distribution, {"sles", "suse", "opensuse"})) return "/updates";
  if (starts_with_any(distribution, {"debian", "ubuntu", "arch"})) return "/updates/dkms";
  return declared;
}

bool ends_in_object(std::string_view name) { return name.ends_with(".o") || name.ends_with(".ko"); }

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const std::size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

struct IgnoredName {
  std::string_view name;
  std::string_view reason;
};

constexpr std::string_view kNodeHook =
    "runs on the node at install time in DKMS; ckms installs prebuilt artifacts and runs no "
    "scripts on nodes";
constexpr std::string_view kDeprecated = "deprecated in DKMS 3, which ignores it too";
constexpr std::string_view kSigning =
    "ckms signs modules with the key given to `ckms build`, not with the file's choice";
constexpr std::string_view kInternal =
    "a DKMS-internal variable; read_conf recomputes it, so setting it in dkms.conf has no "
    "reliable effect";

constexpr IgnoredName kIgnored[] = {
    {"POST_ADD", kNodeHook},
    {"PRE_INSTALL", kNodeHook},
    {"POST_INSTALL", kNodeHook},
    {"POST_REMOVE", kNodeHook},
    {"OBSOLETE_BY", "ckms does not compare against modules of other kernels at load time"},
    {"REMAKE_INITRD", kDeprecated},
    {"MODULES_CONF", kDeprecated},
    {"MODULES_CONF_OBSOLETES", kDeprecated},
    {"MODULES_CONF_ALIAS_TYPE", kDeprecated},
    {"MODULES_CONF_OBSOLETE_ONLY", kDeprecated},
    {"SIGN_FILE", kSigning},
    {"MOK_SIGNING_KEY", kSigning},
    {"MOK_CERTIFICATE", kSigning},
    {"patch_array", kInternal},
    {"built_module_name", kInternal},
    {"built_module_location", kInternal},
    {"dest_module_name", kInternal},
    {"dest_module_location", kInternal},
    {"strip", kInternal},
};

}  // namespace

DkmsEnvironment DkmsEnvironment::for_kernel(std::string kernelver, std::string arch) {
  DkmsEnvironment env;
  env.kernel_source_dir = "/lib/modules/" + kernelver + "/build";
  env.kernelver = std::move(kernelver);
  env.arch = std::move(arch);
  return env;
}

std::string DkmsEnvironment::build_dir(std::string_view package_name, std::string_view package_version) const {
  return fmt::format("{}/{}/{}/build", dkms_tree, module.empty() ? package_name : module,
                     module_version.empty() ? package_version : module_version);
}

std::vector<std::pair<std::string, std::string>> DkmsEnvironment::variables() const {
  return {
      {"kernelver", kernelver},
      {"arch", arch},
      {"kernel_source_dir", kernel_source_dir},
      {"kernel_config", kernel_config()},
      {"dkms_tree", dkms_tree},
      {"source_tree", source_tree},
      {"install_tree", install_tree},
      {"tmp_location", tmp_location},
      {"module", module},
      {"module_version", module_version},
      {"running_distribution", running_distribution},
      {"current_os", "Linux"},
      {"parallel_jobs", std::to_string(parallel_jobs)},
  };
}

const std::vector<std::string_view>& dkms_conf_variable_names() {
  static const std::vector<std::string_view> names = {"CLEAN",
                                                      "PACKAGE_NAME",
                                                      "PACKAGE_VERSION",
                                                      "POST_ADD",
                                                      "POST_BUILD",
                                                      "POST_INSTALL",
                                                      "POST_REMOVE",
                                                      "PRE_BUILD",
                                                      "PRE_INSTALL",
                                                      "BUILD_DEPENDS",
                                                      "BUILD_EXCLUSIVE_KERNEL",
                                                      "BUILD_EXCLUSIVE_KERNEL_MIN",
                                                      "BUILD_EXCLUSIVE_KERNEL_MAX",
                                                      "BUILD_EXCLUSIVE_ARCH",
                                                      "BUILD_EXCLUSIVE_CONFIG",
                                                      "build_exclude",
                                                      "OBSOLETE_BY",
                                                      "MAKE",
                                                      "MAKE_MATCH",
                                                      "PATCH",
                                                      "PATCH_MATCH",
                                                      "patch_array",
                                                      "BUILT_MODULE_NAME",
                                                      "built_module_name",
                                                      "BUILT_MODULE_LOCATION",
                                                      "built_module_location",
                                                      "DEST_MODULE_NAME",
                                                      "dest_module_name",
                                                      "DEST_MODULE_LOCATION",
                                                      "dest_module_location",
                                                      "STRIP",
                                                      "strip",
                                                      "AUTOINSTALL",
                                                      "NO_WEAK_MODULES",
                                                      "SIGN_FILE",
                                                      "MOK_SIGNING_KEY",
                                                      "MOK_CERTIFICATE",
                                                      "REMAKE_INITRD",
                                                      "MODULES_CONF",
                                                      "MODULES_CONF_OBSOLETES",
                                                      "MODULES_CONF_ALIAS_TYPE",
                                                      "MODULES_CONF_OBSOLETE_ONLY"};
  return names;
}

std::string first_value(const RawVariables& raw, std::string_view name) { return element(raw, name, 0); }

std::vector<std::string> DkmsConf::directives_set() const {
  std::vector<std::string> names;
  for (const auto name : dkms_conf_variable_names()) {
    if (raw.contains(std::string(name))) names.emplace_back(name);
  }
  return names;
}

namespace {

// The single-valued directives and the arrays that are not module records.
void read_directives(const RawVariables& raw, DkmsConf& conf) {
  conf.package_name = first_value(raw, "PACKAGE_NAME");
  conf.package_version = first_value(raw, "PACKAGE_VERSION");
  conf.pre_build = first_value(raw, "PRE_BUILD");
  conf.post_build = first_value(raw, "POST_BUILD");
  conf.build_exclusive_kernel = first_value(raw, "BUILD_EXCLUSIVE_KERNEL");
  conf.build_exclusive_kernel_min = first_value(raw, "BUILD_EXCLUSIVE_KERNEL_MIN");
  conf.build_exclusive_kernel_max = first_value(raw, "BUILD_EXCLUSIVE_KERNEL_MAX");
  conf.build_exclusive_arch = first_value(raw, "BUILD_EXCLUSIVE_ARCH");
  conf.build_exclusive_config = first_value(raw, "BUILD_EXCLUSIVE_CONFIG");
  conf.build_exclude_forced = !first_value(raw, "build_exclude").empty();
  conf.autoinstall = !first_value(raw, "AUTOINSTALL").empty();
  conf.no_weak_modules = !first_value(raw, "NO_WEAK_MODULES").empty();
  conf.make = array(raw, "MAKE");
  conf.make_match = array(raw, "MAKE_MATCH");
  conf.patch = array(raw, "PATCH");
  conf.patch_match = array(raw, "PATCH_MATCH");
  // "${BUILD_DEPENDS[@]}" joined, then split on whitespace by dkms autoinstall.
  if (const auto it = raw.find("BUILD_DEPENDS"); it != raw.end()) {
    for (const auto& [index, value] : it->second) {
      for (auto& word : split_words(value)) conf.build_depends.push_back(std::move(word));
    }
  }
  for (const auto& [name, reason] : kIgnored) {
    if (const auto it = raw.find(std::string(name)); it != raw.end()) {
      conf.ignored.push_back({std::string(name), it->second.begin()->second, std::string(reason)});
    }
  }
}

// case ${STRIP[i]} in [nN]*) no;; [yY]*) yes;; '') ${strip[0]:-yes};; other: unset, and
// DKMS strips whatever is not "no". `strip0` is record 0's setting.
std::string strip_setting(const std::string& strip_raw, const std::string& strip0) {
  if (!strip_raw.empty() && (strip_raw[0] == 'n' || strip_raw[0] == 'N')) return "no";
  if (!strip_raw.empty() && (strip_raw[0] == 'y' || strip_raw[0] == 'Y')) return "yes";
  if (strip_raw.empty()) return strip0.empty() ? "yes" : strip0;
  return "";
}

// DKMS's complaints about one module record, in its words.
void check_record(const ModuleEntry& m, std::size_t i, std::vector<std::string>& errors) {
  if (m.built_name.empty()) {
    errors.push_back(fmt::format("No 'BUILT_MODULE_NAME' directive specified for record #{}.", i));
  }
  if (ends_in_object(m.built_name)) {
    errors.push_back(fmt::format("'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #{}.", i));
  }
  if (ends_in_object(m.dest_name)) {
    errors.push_back(fmt::format("'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #{}.", i));
  }
  if (m.dest_location.empty()) {
    errors.push_back(fmt::format("No 'DEST_MODULE_LOCATION' directive specified for record #{}.", i));
  }
  if (!starts_with_any(m.dest_location, {"/kernel", "/updates", "/extra"})) {
    errors.push_back(fmt::format(
        "Directive 'DEST_MODULE_LOCATION' does not begin with '/kernel', '/updates', or '/extra' in record #{}.", i));
  }
}

// Module records: as many as the longest of the four arrays has elements (counts, not
// highest indexes: a sparse array loses its last records in DKMS too).
void read_module_records(const RawVariables& raw, const DkmsEnvironment& env, DkmsConf& conf) {
  const std::size_t records = std::max({count(raw, "BUILT_MODULE_NAME"), count(raw, "BUILT_MODULE_LOCATION"),
                                        count(raw, "DEST_MODULE_NAME"), count(raw, "DEST_MODULE_LOCATION")});
  std::string strip0;
  for (std::size_t i = 0; i < records; ++i) {
    ModuleEntry m;
    m.index = i;
    m.built_name = element(raw, "BUILT_MODULE_NAME", i);
    m.built_location = element(raw, "BUILT_MODULE_LOCATION", i);
    m.dest_name = element(raw, "DEST_MODULE_NAME", i);
    m.dest_location = element(raw, "DEST_MODULE_LOCATION", i);
    const std::string strip_value = strip_setting(element(raw, "STRIP", i), strip0);
    if (i == 0) strip0 = strip_value;
    m.strip = strip_value != "no";

    if (m.built_name.empty() && count(raw, "DEST_MODULE_LOCATION") == 1) {
      m.built_name = conf.package_name;
    }
    if (m.dest_name.empty()) m.dest_name = m.built_name;
    if (!m.built_location.empty() && m.built_location.back() != '/') m.built_location += '/';
    m.install_location = override_dest_location(m.dest_location, env.running_distribution);
    check_record(m, i, conf.errors);
    conf.modules.push_back(std::move(m));
  }
}

}  // namespace

DkmsConf resolve_dkms_conf(const RawVariables& raw, const DkmsEnvironment& env) {
  DkmsConf conf;
  conf.raw = raw;
  read_directives(raw, conf);
  read_module_records(raw, env, conf);

  conf.clean = first_value(raw, "CLEAN");
  if (conf.clean.empty()) {
    conf.clean = fmt::format("make -C {} M={} clean", env.kernel_source_dir,
                             env.build_dir(conf.package_name, conf.package_version));
  }
  // dkms 3.0.11 ("emit only a warning if dkms.conf specifies zero modules") replaced
  // 3.0.10's error "No 'DEST_MODULE_LOCATION' directive specified." with this warning; the
  // build then runs make and installs nothing.
  if (conf.modules.empty()) conf.warnings.emplace_back("Zero modules specified.");
  if (conf.package_name.empty()) {
    conf.errors.emplace_back("No 'PACKAGE_NAME' directive specified.");
  }
  if (conf.package_version.empty()) {
    conf.errors.emplace_back("No 'PACKAGE_VERSION' directive specified.");
  }
  return conf;
}

}  // namespace ckms::builder
