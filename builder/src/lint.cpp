#include "ckms/builder/lint.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/builder/tree_files.hpp"

namespace ckms::builder {
namespace {

// Stands in for $kernelver when linting without a kernel, so that expansions still read
// naturally in messages and nothing looks like a real kernel.
constexpr std::string_view kPlaceholderKernel = "0.0.0-lint";

// Does the tree hold a source for module NAME? A Kbuild module comes from NAME.c or from
// NAME-objs/NAME-y lines in a Makefile or Kbuild file; either may live in a subdirectory.
bool has_module_source(const std::filesystem::path& dir, const ModuleEntry& m) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path location = dir / m.built_location;
  if (fs::exists(location / (m.built_name + ".c"), ec)) return true;
  const std::string underscored = [&] {
    std::string s = m.built_name;
    std::replace(s.begin(), s.end(), '-', '_');
    return s;
  }();
  std::size_t visited = 0;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator() && visited < 20000; it.increment(ec), ++visited) {
    const std::string name = it->path().filename().string();
    if (name == m.built_name + ".c" || name == underscored + ".c") return true;
    if ((name == "Makefile" || name == "Kbuild" || name.ends_with(".mk") || name == "Makefile.in" ||
         name == "Kbuild.in" || name == "Makefile.am") &&
        it->is_regular_file(ec)) {
      std::string text;
      try {
        text = ckms::read_file(it->path(), 1 << 20);
      } catch (const Error&) {
        continue;
      }
      for (const auto& n : {m.built_name, underscored}) {
        if (text.find(n + ".o") != std::string::npos || text.find(n + "-objs") != std::string::npos ||
            text.find(n + "-y") != std::string::npos) {
          return true;
        }
      }
    }
  }
  return false;
}

// The directory name after `prefix` in `text` at `at`: /var/lib/dkms/NAME/..., /usr/src/NAME.
std::string component_after(std::string_view text, std::size_t at, std::string_view prefix) {
  const std::size_t start = at + prefix.size();
  std::size_t end = start;
  while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) != 0 ||
                               std::string_view("-_.+").find(text[end]) != std::string_view::npos)) {
    ++end;
  }
  return std::string(text.substr(start, end - start));
}

// Paths written into the file that exist on a DKMS host but not in a build sandbox, which
// holds the build image and this package's own tree only.
std::vector<LintFinding> hard_coded_paths(std::string_view text, const std::string& package) {
  std::vector<LintFinding> found;
  std::size_t line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
      continue;
    }
    const std::string_view rest = text.substr(i);
    if (text.substr(line_start, i - line_start).find('#') != std::string_view::npos) continue;  // a comment
    if (rest.starts_with("/var/lib/dkms/")) {
      const std::string name = component_after(text, i, "/var/lib/dkms/");
      if (!name.empty() && name != package) {
        found.push_back({Severity::warning, line,
                         fmt::format("hard-coded {}: another DKMS package's tree; the build sandbox holds only "
                                     "the Module.symvers of {} there (kernel-<release>-<arch>/module/), when "
                                     "built with --depends naming its artifact (BUILD_DEPENDS)",
                                     quote_input("/var/lib/dkms/" + name, 64), quote_input(name, 64))});
      }
    } else if (rest.starts_with("/usr/src/")) {
      const std::string name = component_after(text, i, "/usr/src/");
      const std::string path = quote_input("/usr/src/" + name, 64);
      std::string message;
      if (name.starts_with("linux") || name == "kernels") {
        message = fmt::format(
            "hard-coded {}: kernel headers are where $kernel_source_dir says in a build image; use $kernel_source_dir",
            path);
      } else if (name.empty() || (!package.empty() && (name == package || name.starts_with(package + "-")))) {
        message = fmt::format(
            "hard-coded {}: this package's source is at $dkms_tree/$module/$module_version/build in the build "
            "sandbox, which has no copy under /usr/src",
            path);
      } else {
        message = fmt::format(
            "hard-coded {}: another package's source, absent from the build sandbox; the package that installs it "
            "would provide it (BUILD_DEPENDS)",
            path);
      }
      found.push_back({Severity::warning, line, std::move(message)});
    }
  }
  return found;
}

}  // namespace

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::note: return "note";
  }
  return "note";
}

bool LintReport::buildable() const { return count(Severity::error) == 0; }

std::size_t LintReport::count(Severity severity) const {
  return static_cast<std::size_t>(
      std::count_if(findings.begin(), findings.end(), [&](const LintFinding& f) { return f.severity == severity; }));
}

namespace {

void add(LintReport& report, Severity severity, std::size_t line, std::string message) {
  report.findings.push_back({severity, line, std::move(message)});
}

// `dkms add` learns module and version from the file itself, then reads it again.
StaticParseResult read_as_dkms_add(const std::filesystem::path& conf_path, DkmsEnvironment& env) {
  const StaticParseResult first = parse_dkms_conf_static_file(conf_path, env);
  env.module = first_value(first.variables, "PACKAGE_NAME");
  env.module_version = first_value(first.variables, "PACKAGE_VERSION");
  return parse_dkms_conf_static_file(conf_path, env);
}

bool is_undetermined(const StaticParseResult& parsed, std::string_view name) {
  return std::find(parsed.undetermined.begin(), parsed.undetermined.end(), name) != parsed.undetermined.end();
}

// What the static reading does not support or could not settle.
void add_reading_findings(const StaticParseResult& parsed, LintReport& report) {
  for (const auto& u : parsed.unsupported) {
    add(report, Severity::warning, u.line,
        fmt::format("{}: {} (the build evaluates the file in its sandbox)", u.construct, u.detail));
  }
  for (const auto& n : parsed.notes) add(report, Severity::note, n.line, fmt::format("{}: {}", n.construct, n.detail));
  for (const auto& name : parsed.undetermined) {
    add(report, Severity::warning, 0,
        fmt::format("{} depends on shell logic; its value is known only after sandbox evaluation", name));
  }
}

// read_conf's refusals are errors only when the static reading is complete for the
// variables involved; otherwise the sandbox may well see them set.
bool modules_known(const StaticParseResult& parsed) {
  return !is_undetermined(parsed, "BUILT_MODULE_NAME") && !is_undetermined(parsed, "DEST_MODULE_LOCATION") &&
         !is_undetermined(parsed, "BUILT_MODULE_LOCATION") && !is_undetermined(parsed, "DEST_MODULE_NAME") &&
         !is_undetermined(parsed, "PACKAGE_NAME");
}

void add_conf_findings(const StaticParseResult& parsed, LintReport& report) {
  const bool known = modules_known(parsed);
  for (const auto& w : report.conf.warnings) {
    add(report, Severity::warning, 0, known ? w : fmt::format("{} (may be set by shell logic)", w));
  }
  for (const auto& e : report.conf.errors) {
    const bool certain =
        known && !(e.find("PACKAGE_VERSION") != std::string::npos && is_undetermined(parsed, "PACKAGE_VERSION"));
    add(report, certain ? Severity::error : Severity::warning, 0,
        certain ? e : fmt::format("{} (may be set by shell logic)", e));
  }
  for (const auto& i : report.conf.ignored) {
    add(report, Severity::note, 0, fmt::format("{} is ignored by ckms: {}", i.name, i.reason));
  }
  if (!report.conf.build_depends.empty()) {
    add(report, Severity::warning, 0,
        fmt::format("BUILD_DEPENDS={}: build with --depends REPO:VERSION naming each one's module artifact; "
                    "without them the build is refused, as DKMS refuses it",
                    quote_input(fmt::format("{}", fmt::join(report.conf.build_depends, " ")), 64)));
  }
  if (is_undetermined(parsed, "MAKE")) {
    add(report, Severity::note, 0,
        "MAKE is computed by shell logic: the build runs what the sandbox evaluation gives for the kernel, "
        "against the build image's headers, not the default shown here");
  }
  if (report.conf.no_weak_modules) {
    add(report, Severity::note, 0, "NO_WEAK_MODULES: ckms never links modules into other kernels anyway");
  }
  if (!report.conf.pre_build.empty() || !report.conf.post_build.empty()) {
    add(report, Severity::note, 0,
        "PRE_BUILD/POST_BUILD run inside the build sandbox, as DKMS runs them in the build dir");
  }
}

// The files dkms.conf names that the source tree lacks.
void add_tree_findings(const std::filesystem::path& source_dir, const StaticParseResult& parsed, LintReport& report) {
  const auto text = read_plain_file(source_dir, "dkms.conf", kMaxDkmsConfBytes, report.conf_path.string());
  for (auto& finding : hard_coded_paths(text.value_or(""), report.conf.package_name)) {
    report.findings.push_back(std::move(finding));
  }
  if (modules_known(parsed)) {
    for (const auto& m : report.conf.modules) {
      if (!m.built_name.empty() && !has_module_source(source_dir, m)) {
        add(report, Severity::warning, 0,
            fmt::format("BUILT_MODULE_NAME[{}]={}: no .c file or Makefile rule for it in the tree", m.index,
                        quote_input(m.built_name)));
      }
    }
  }
  std::error_code ec;
  for (const auto& [name, array] : report.conf.raw) {
    if ((name == "PATCH")) {
      for (const auto& [index, patch] : array) {
        if (!patch.empty() && !std::filesystem::exists(source_dir / "patches" / patch, ec)) {
          add(report, Severity::error, 0,
              fmt::format("PATCH[{}]={}: no such file in patches/", index, quote_input(patch)));
        }
      }
    }
  }
}

void add_plan_findings(const DkmsEnvironment& env, const LintOptions& options, LintReport& report) {
  KernelTarget kernel{*options.kernel_release, options.arch, std::nullopt};
  if (options.kernel_config) kernel.config = KernelConfig::load(*options.kernel_config);
  report.plan = plan_build(report.conf, env, kernel);
  for (const auto& reason : report.plan->exclusion_reasons) {
    add(report, Severity::note, 0, fmt::format("not built for this kernel: {}", reason));
  }
}

}  // namespace

LintReport lint(const std::filesystem::path& source_dir, const LintOptions& options) {
  LintReport report;
  report.conf_path = source_dir / "dkms.conf";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(report.conf_path, ec)) {
    fail(ErrorKind::not_found, "{}: no dkms.conf in this directory", report.conf_path.string());
  }
  DkmsEnvironment env =
      DkmsEnvironment::for_kernel(options.kernel_release.value_or(std::string(kPlaceholderKernel)), options.arch);
  const StaticParseResult parsed = read_as_dkms_add(report.conf_path, env);
  report.conf = resolve_dkms_conf(parsed.variables, env);
  report.exact = parsed.exact();
  report.undetermined = parsed.undetermined;

  add_reading_findings(parsed, report);
  add_conf_findings(parsed, report);
  add_tree_findings(source_dir, parsed, report);
  if (options.kernel_release) add_plan_findings(env, options, report);
  std::stable_sort(report.findings.begin(), report.findings.end(),
                   [](const LintFinding& a, const LintFinding& b) { return a.severity < b.severity; });
  return report;
}

void to_json(nlohmann::json& j, const LintReport& report) {
  const DkmsConf& c = report.conf;
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& m : c.modules) {
    modules.push_back({{"index", m.index},
                       {"built_name", m.built_name},
                       {"built_location", m.built_location},
                       {"dest_name", m.dest_name},
                       {"dest_location", m.dest_location},
                       {"strip", m.strip}});
  }
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : report.findings) {
    findings.push_back({{"severity", to_string(f.severity)}, {"line", f.line}, {"message", f.message}});
  }
  nlohmann::json directives = nlohmann::json::object();
  for (const auto& [name, array] : c.raw) {
    nlohmann::json values = nlohmann::json::object();
    for (const auto& [index, value] : array) values[std::to_string(index)] = value;
    directives[name] = values;
  }
  j = {{"conf", report.conf_path.string()},
       {"package_name", c.package_name},
       {"package_version", c.package_version},
       {"buildable", report.buildable()},
       {"exact", report.exact},
       {"undetermined", report.undetermined},
       {"directives", directives},
       {"modules", modules},
       {"findings", findings},
       {"errors", report.count(Severity::error)},
       {"warnings", report.count(Severity::warning)}};
  if (report.plan) j["plan"] = *report.plan;
}

}  // namespace ckms::builder
