#include "dkms_corpus.hpp"

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "ckms/builder/dkms_conf_eval.hpp"
#include "testkit.hpp"

namespace ckms::builder::corpus {
namespace fs = std::filesystem;

namespace {

constexpr const char* kDkms = "/usr/sbin/dkms";

// The functions read_conf needs, cut out of the installed dkms script by name, so the
// reference is DKMS's own code and not a transcription of it.
std::string dkms_functions() {
  const std::string text = testkit::read_text(kDkms);
  const std::vector<std::string> wanted = {
      "_get_kernel_dir", "set_kernel_source_dir_and_kconfig", "mktemp_or_die", "error", "deprecated", "die",
      "safe_source",     "override_dest_module_location",     "read_conf"};
  std::istringstream in(text);
  std::string out;
  std::string line;
  bool copying = false;
  bool in_variables = false;
  while (std::getline(in, line)) {
    if (line.starts_with("readonly dkms_conf_variables=")) in_variables = true;
    if (in_variables) {
      out += line + "\n";
      if (line.ends_with("\"") && line != "readonly dkms_conf_variables=\"") in_variables = false;
      continue;
    }
    if (!copying) {
      for (const auto& name : wanted) {
        if (line.starts_with(name + "()") || line.starts_with(name + " ()")) copying = true;
      }
    }
    if (copying) {
      out += line + "\n";
      if (line == "}" || line == ")") copying = false;
    }
  }
  return out;
}

std::string sq(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Hard links where the file system allows: some corpus trees (lttng, openafs) are tens of
// MB and every file is evaluated many times; reading dkms.conf never writes into its tree.
fs::path scratch_copy(const fs::path& tree, const fs::path& parent) {
  const fs::path copy = parent / tree.filename();
  constexpr auto kTree = fs::copy_options::recursive | fs::copy_options::copy_symlinks;
  std::error_code linked;
  fs::copy(tree, copy, kTree | fs::copy_options::create_hard_links, linked);
  if (linked) {
    fs::remove_all(copy);
    fs::copy(tree, copy, kTree);
  }
  return copy;
}

RawVariables run_dump(const std::string& script, const fs::path& dir, const std::string& what) {
  const fs::path file = dir / "script.sh";
  testkit::write_text(file, script);
  testkit::RunOptions options;
  options.cwd = dir;
  options.timeout_seconds = 60;
  const auto result =
      testkit::run({"env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "bash", file.string()}, options);
  INFO(what << " stderr: " << result.err);
  REQUIRE(result.exit_code == 0);
  return parse_evaluation_output(result.out, what);
}

}  // namespace

std::vector<Package> packages() {
  const fs::path cache = testkit::download_cache();
  const fs::path script = fs::path(CKMS_SOURCE_DIR) / "tests/corpus/fetch-dkms-packages.sh";
  testkit::RunOptions options;
  options.timeout_seconds = 600;
  const auto fetched = testkit::run({"sh", script.string(), cache.string()}, options);
  if (fetched.exit_code != 0) WARN("fetching the corpus failed: " << fetched.err);
  std::vector<Package> found;
  const fs::path src = cache / "dkms-src";
  if (!fs::is_directory(src)) return found;
  for (const auto& entry : fs::directory_iterator(src)) {
    if (!fs::exists(entry.path() / ".complete")) continue;
    for (const auto& tree : fs::directory_iterator(entry.path())) {
      if (tree.is_directory()) found.push_back({entry.path().filename().string(), tree.path()});
    }
  }
  std::sort(found.begin(), found.end(), [](const Package& a, const Package& b) { return a.name < b.name; });
  return found;
}

fs::path fake_kernel_dir(const fs::path& parent, const std::string& name, const std::string& config_text) {
  const fs::path dir = parent / name;
  fs::create_directories(dir);
  testkit::write_text(dir / ".config", config_text);
  return dir;
}

RawVariables evaluate_with_bash(const fs::path& tree, const DkmsEnvironment& env) {
  testkit::TempDir scratch("ckms-dkms-eval");
  const fs::path copy = scratch_copy(tree, scratch.path());
  return run_dump(evaluation_script(env, (copy / "dkms.conf").string()), scratch.path(),
                  "evaluation of " + tree.string());
}

std::optional<RawVariables> dkms_read_conf(const fs::path& tree, const DkmsEnvironment& env) {
  if (!fs::exists(kDkms)) return std::nullopt;
  testkit::TempDir scratch("ckms-dkms-ref");
  const fs::path copy = scratch_copy(tree, scratch.path());
  std::string script = dkms_functions();
  script += "current_os=Linux\n";
  script += "dkms_tree=" + sq(env.dkms_tree) + "\nsource_tree=" + sq(env.source_tree) +
            "\ninstall_tree=" + sq(env.install_tree) + "\ntmp_location=" + sq(env.tmp_location) + "\n";
  script += "running_distribution=" + sq(env.running_distribution) + "\n";
  script += "module=" + sq(env.module) + "\nmodule_version=" + sq(env.module_version) + "\n";
  script += "ksourcedir_fromcli=1\nkernel_source_dir=" + sq(env.kernel_source_dir) + "\n";
  script += "cd " + sq(copy.string()) + "\n";
  script += "read_conf " + sq(env.kernelver) + " " + sq(env.arch) + " " + sq((copy / "dkms.conf").string()) +
            " >/dev/null 2>&1\nrc=$?\n";
  script +=
      "n=0\n"
      "for v in rc package_name package_version make_command clean build_exclude pre_build post_build "
      "built_module_name built_module_location dest_module_name dest_module_location strip patch_array; do\n"
      "  declare -n r=$v\n"
      "  for i in \"${!r[@]}\"; do printf 'v\\0%s\\0%s\\0%s\\0' \"$v\" \"$i\" \"${r[$i]}\"; n=$((n+1)); done\n"
      "  unset -n r\n"
      "done\n"
      "printf 'end\\0%s\\0' $n\n";
  // The dump reuses ckms's record format; its names are DKMS's internal ones, so it is
  // parsed here rather than by parse_evaluation_output, which accepts only dkms.conf names.
  const fs::path file = scratch.path() / "reference.sh";
  testkit::write_text(file, script);
  testkit::RunOptions options;
  options.cwd = copy;
  options.timeout_seconds = 60;
  const auto result =
      testkit::run({"env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "bash", file.string()}, options);
  INFO("dkms read_conf of " << tree << ": " << result.err);
  REQUIRE(result.exit_code == 0);
  RawVariables vars;
  std::vector<std::string> fields;
  std::size_t pos = 0;
  while (pos < result.out.size()) {
    const std::size_t end = result.out.find('\0', pos);
    REQUIRE(end != std::string::npos);
    fields.push_back(result.out.substr(pos, end - pos));
    pos = end + 1;
  }
  for (std::size_t i = 0; i + 3 < fields.size() && fields[i] == "v"; i += 4) {
    vars[fields[i + 1]][std::stoul(fields[i + 2])] = fields[i + 3];
  }
  REQUIRE(!fields.empty());
  return vars;
}

}  // namespace ckms::builder::corpus
