// read_conf's per-kernel decisions and actual_build's command rewrite (dkms 3.0.10), plus
// the BUILD_EXCLUSIVE_KERNEL_MIN/_MAX tests of later 3.x releases.
#include "ckms/builder/build_plan.hpp"

#include <regex.h>

#include <cctype>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

namespace ckms::builder {
namespace {

std::string element(const ShellArray& array, std::size_t index) {
  const auto it = array.find(index);
  return it == array.end() ? std::string() : it->second;
}

// The .config a headers package ships is a few hundred kilobytes.
constexpr std::size_t kMaxKernelConfigBytes = 16 << 20;

class Regex {
 public:
  explicit Regex(const std::string& pattern) : ok_(::regcomp(&re_, pattern.c_str(), REG_EXTENDED | REG_NOSUB) == 0) {}
  ~Regex() {
    if (ok_) ::regfree(&re_);
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  bool ok() const { return ok_; }
  bool matches(const std::string& text) const { return ok_ && ::regexec(&re_, text.c_str(), 0, nullptr, 0) == 0; }

 private:
  regex_t re_{};
  bool ok_;
};

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

KernelConfig KernelConfig::parse(std::string_view text) {
  KernelConfig config;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    config.lines_.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return config;
}

KernelConfig KernelConfig::load(const std::filesystem::path& file) {
  return parse(ckms::read_file(file, kMaxKernelConfigBytes));
}

bool KernelConfig::grep(const std::string& pattern) const {
  const Regex re(pattern);
  for (const auto& line : lines_) {
    if (re.matches(line)) return true;
  }
  return false;
}

bool KernelConfig::contains(std::string_view text) const {
  for (const auto& line : lines_) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

std::string dkms_version_key(std::string_view version) {
  // VER(): sed splits digit runs from the rest, pads runs of one or two digits to three
  // and joins everything again.
  std::string out;
  std::size_t i = 0;
  while (i < version.size()) {
    const bool digit = std::isdigit(static_cast<unsigned char>(version[i]));
    std::size_t j = i;
    while (j < version.size() && static_cast<bool>(std::isdigit(static_cast<unsigned char>(version[j]))) == digit) {
      ++j;
    }
    const std::string_view run = version.substr(i, j - i);
    if (digit && run.size() < 3) out.append(3 - run.size(), '0');
    out += run;
    i = j;
  }
  return out;
}

bool bash_regex_match(const std::string& text, const std::string& regex) { return Regex(regex).matches(text); }

namespace {

// Make command: MAKE[0] unless MAKE_MATCH[0] is set; the last MAKE[i] whose MAKE_MATCH[i]
// matches wins. DKMS walks indexes below the element count.
std::string make_command(const DkmsConf& conf, const DkmsEnvironment& env, const KernelTarget& kernel,
                         const std::string& build_dir) {
  std::string command;
  if (element(conf.make_match, 0).empty()) command = element(conf.make, 0);
  for (std::size_t i = 0; i < conf.make.size(); ++i) {
    const std::string make = element(conf.make, i);
    const std::string match = element(conf.make_match, i);
    if (!make.empty() && !match.empty() && bash_regex_match(kernel.release, match)) command = make;
  }
  if (command.empty()) command = fmt::format("make -C {} M={}", env.kernel_source_dir, build_dir);
  // DKMS looks at vmlinux first; headers packages ship none, so the .config decides.
  if (kernel.config) {
    if (kernel.config->contains("CONFIG_CC_IS_CLANG=y")) command += " CC=clang";
    if (kernel.config->contains("CONFIG_LD_IS_LLD=y")) command += " LD=ld.lld";
  }
  return command;
}

// Why BUILD_EXCLUSIVE_* and build_exclude keep this kernel from building; empty when none do.
std::vector<std::string> exclusion_reasons(const DkmsConf& conf, const KernelTarget& kernel) {
  const std::string& kver = kernel.release;
  std::vector<std::string> reasons;
  if (conf.build_exclude_forced) reasons.emplace_back("dkms.conf sets build_exclude itself");
  if (!conf.build_exclusive_kernel.empty() && !bash_regex_match(kver, conf.build_exclusive_kernel)) {
    reasons.push_back(
        fmt::format("kernel {} does not match BUILD_EXCLUSIVE_KERNEL=\"{}\"", kver, conf.build_exclusive_kernel));
  }
  if (!conf.build_exclusive_kernel_min.empty() &&
      dkms_version_key(kver) < dkms_version_key(conf.build_exclusive_kernel_min)) {
    reasons.push_back(fmt::format("kernel {} is older than BUILD_EXCLUSIVE_KERNEL_MIN=\"{}\"", kver,
                                  conf.build_exclusive_kernel_min));
  }
  if (!conf.build_exclusive_kernel_max.empty() &&
      dkms_version_key(kver) > dkms_version_key(conf.build_exclusive_kernel_max)) {
    reasons.push_back(fmt::format("kernel {} is newer than BUILD_EXCLUSIVE_KERNEL_MAX=\"{}\"", kver,
                                  conf.build_exclusive_kernel_max));
  }
  if (!conf.build_exclusive_arch.empty() && !bash_regex_match(kernel.arch, conf.build_exclusive_arch)) {
    reasons.push_back(
        fmt::format("arch {} does not match BUILD_EXCLUSIVE_ARCH=\"{}\"", kernel.arch, conf.build_exclusive_arch));
  }
  // Only with a .config, as DKMS: `grep -q -E "^${kconf}=[ym]"`, `!` negates.
  if (!conf.build_exclusive_config.empty() && kernel.config) {
    for (const auto& option : words(conf.build_exclusive_config)) {
      if (option.starts_with("!")) {
        const std::string name = option.substr(1);
        if (kernel.config->grep("^" + name + "=[ym]")) {
          reasons.push_back(fmt::format("{} is set in the kernel's .config (BUILD_EXCLUSIVE_CONFIG)", name));
        }
      } else if (!kernel.config->grep("^" + option + "=[ym]")) {
        reasons.push_back(fmt::format("{} is not set in the kernel's .config (BUILD_EXCLUSIVE_CONFIG)", option));
      }
    }
  }
  return reasons;
}

}  // namespace

std::optional<CrossCompile> cross_compile_for(std::string_view kernel_arch, std::string_view build_arch) {
  if (kernel_arch == build_arch) return std::nullopt;
  // Debian's gcc-<v>-<triplet> and binutils-<triplet> packages.
  static const std::map<std::string_view, CrossCompile> toolchains = {
      {"aarch64", {"arm64", "aarch64-linux-gnu-"}},
      {"x86_64", {"x86", "x86_64-linux-gnu-"}},
      {"riscv64", {"riscv", "riscv64-linux-gnu-"}},
      {"s390x", {"s390", "s390x-linux-gnu-"}},
      {"ppc64le", {"powerpc", "powerpc64le-linux-gnu-"}}};
  const auto it = toolchains.find(kernel_arch);
  if (it == toolchains.end()) {
    fail(ErrorKind::usage, "kernel architecture {}: no cross toolchain is known for building it on {}", kernel_arch,
         build_arch);
  }
  return it->second;
}

BuildPlan plan_build(const DkmsConf& conf, const DkmsEnvironment& env, const KernelTarget& kernel) {
  BuildPlan plan;
  plan.kernel_release = kernel.release;
  plan.arch = kernel.arch;
  plan.cross = kernel.cross;
  plan.build_dir = env.build_dir(conf.package_name, conf.package_version);
  const std::string& kver = kernel.release;

  plan.make_command = make_command(conf, env, kernel, plan.build_dir);
  // actual_build: "${make_command/#make/make -j$parallel_jobs KERNELRELEASE=$kernelver}"
  plan.make_invocation = plan.make_command;
  if (plan.make_invocation.starts_with("make")) {
    // Across architectures, ARCH and CROSS_COMPILE go on the command line as well as into
    // the environment: a Makefile's own `ARCH := $(shell uname -m)` cannot override them.
    const std::string cross =
        plan.cross ? fmt::format(" ARCH={} CROSS_COMPILE={}", plan.cross->make_arch, plan.cross->prefix) : "";
    plan.make_invocation.replace(0, 4, fmt::format("make -j{}{} KERNELRELEASE={}", env.parallel_jobs, cross, kver));
  }
  plan.clean_command = conf.clean;
  plan.pre_build = conf.pre_build;
  plan.post_build = conf.post_build;

  for (std::size_t i = 0; i < conf.patch.size(); ++i) {
    const std::string patch = element(conf.patch, i);
    const std::string match = element(conf.patch_match, i);
    if (!patch.empty() && (match.empty() || bash_regex_match(kver, match))) {
      plan.patches.push_back(patch);
    }
  }

  plan.exclusion_reasons = exclusion_reasons(conf, kernel);
  plan.excluded = !plan.exclusion_reasons.empty();

  for (const auto& m : conf.modules) {
    plan.modules.push_back(
        {m.built_location + m.built_name + ".ko", m.dest_name, m.dest_location, m.install_location, m.strip});
  }
  return plan;
}

void to_json(nlohmann::json& j, const BuildPlan& plan) {
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& m : plan.modules) {
    modules.push_back({{"built_path", m.built_path},
                       {"dest_name", m.dest_name},
                       {"dest_location", m.dest_location},
                       {"install_location", m.install_location},
                       {"strip", m.strip}});
  }
  j = {{"kernel_release", plan.kernel_release},
       {"arch", plan.arch},
       {"excluded", plan.excluded},
       {"exclusion_reasons", plan.exclusion_reasons},
       {"build_dir", plan.build_dir},
       {"make_command", plan.make_command},
       {"make_invocation", plan.make_invocation},
       {"clean_command", plan.clean_command},
       {"patches", plan.patches},
       {"pre_build", plan.pre_build},
       {"post_build", plan.post_build},
       {"extra_symbols", plan.extra_symbols},
       {"modules", modules}};
  if (plan.cross) j["cross_compile"] = {{"arch", plan.cross->make_arch}, {"prefix", plan.cross->prefix}};
}

}  // namespace ckms::builder
