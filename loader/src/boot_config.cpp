#include "ckms/loader/boot_config.hpp"

#include <algorithm>
#include <set>

#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "ckms/base/error.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

namespace {

class ConfigFile {
 public:
  explicit ConfigFile(fs::path file) : file_(std::move(file)) {}

  [[noreturn]] void error(const YAML::Node& node, std::string_view key, const std::string& what) const {
    const auto mark = node.Mark();
    if (mark.line >= 0) fail(ErrorKind::usage, "{}:{}: '{}': {}", file_.string(), mark.line + 1, key, what);
    fail(ErrorKind::usage, "{}: '{}': {}", file_.string(), key, what);
  }

  std::string scalar(const YAML::Node& node, std::string_view key) const {
    if (!node.IsScalar()) error(node, key, "must be a single value");
    return node.Scalar();
  }

  bool boolean(const YAML::Node& node, std::string_view key) const {
    const std::string text = scalar(node, key);
    if (text == "true" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "no" || text == "off") return false;
    error(node, key, fmt::format("'{}' is not true or false", text));
  }

  std::vector<fs::path> paths(const YAML::Node& node, std::string_view key) const {
    std::vector<fs::path> out;
    if (node.IsScalar()) {
      out.emplace_back(node.Scalar());
    } else if (node.IsSequence()) {
      for (const auto& item : node) out.emplace_back(scalar(item, key));
    } else {
      error(node, key, "must be a path or a list of paths");
    }
    for (const auto& p : out) {
      if (p.is_relative()) error(node, key, fmt::format("'{}' must be an absolute path", p.string()));
    }
    return out;
  }

  // Runs `parse`, turning its usage errors into ones that point at the file and key.
  template <typename F>
  auto checked(const YAML::Node& node, std::string_view key, F&& parse) const {
    try {
      return parse();
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::usage) throw;
      error(node, key, e.what());
    }
  }

  const fs::path& path() const { return file_; }

 private:
  fs::path file_;
};

NetworkMode network_mode(const ConfigFile& config, const YAML::Node& node) {
  const std::string text = config.scalar(node, "network");
  if (text == "online") return NetworkMode::online;
  if (text == "offline") return NetworkMode::offline;
  if (text == "fallback") return NetworkMode::fallback;
  config.error(node, "network", fmt::format("'{}' is not online, offline or fallback", text));
}

void read_registry(const ConfigFile& config, const YAML::Node& node, oci::RegistryOptions& options) {
  if (!node.IsMap()) config.error(node, "registry", "must be a map (plain-http, ca-cert, authfile)");
  for (const auto& item : node) {
    const std::string key = config.scalar(item.first, "registry");
    if (key == "plain-http") {
      options.plain_http = config.boolean(item.second, "registry.plain-http");
    } else if (key == "ca-cert") {
      options.ca_cert = config.paths(item.second, "registry.ca-cert").at(0);
    } else if (key == "authfile") {
      options.auth_file = config.paths(item.second, "registry.authfile").at(0);
    } else {
      config.error(item.first, "registry." + key, "unknown key (known: plain-http, ca-cert, authfile)");
    }
  }
}

}  // namespace

BootEntry read_boot_entry(const fs::path& file) {
  const ConfigFile config(file);
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::BadFile&) {
    fail(ErrorKind::not_found, "{}: cannot read it", file.string());
  } catch (const YAML::Exception& e) {
    fail(ErrorKind::usage, "{}:{}: not YAML: {}", file.string(), e.mark.line + 1, e.msg);
  }
  if (!root.IsMap()) fail(ErrorKind::usage, "{}: must be a map with at least 'artifact'", file.string());
  if (!root["artifact"]) fail(ErrorKind::usage, "{}: 'artifact' is missing (REPO:VERSION)", file.string());

  const YAML::Node artifact_node = root["artifact"];
  BootEntry entry{.file = file, .request = LoadRequest{.reference = config.checked(artifact_node, "artifact", [&] {
                                  return oci::Reference::parse(config.scalar(artifact_node, "artifact"));
                                })}};
  entry.request.network = NetworkMode::fallback;
  if (!entry.request.reference.tag() && !entry.request.reference.digest()) {
    config.error(artifact_node, "artifact",
                 "needs the module version as its tag (REPO:1.0.0) or a digest pin (REPO@sha256:...)");
  }
  for (const auto& item : root) {
    const std::string key = config.scalar(item.first, "(key)");
    const YAML::Node& value = item.second;
    if (key == "artifact") continue;
    if (key == "trust") {
      entry.request.trust = config.paths(value, key);
    } else if (key == "parameters") {
      if (!value.IsMap()) config.error(value, key, "must be a map of [MODULE.]NAME: VALUE");
      for (const auto& parameter : value) {
        const std::string name = config.scalar(parameter.first, key);
        const std::string text = name + "=" + config.scalar(parameter.second, "parameters." + name);
        entry.request.parameters.push_back(config.checked(parameter.first, "parameters." + name,
                                                          [&] { return artifact::ParameterSetting::parse(text); }));
      }
    } else if (key == "network") {
      entry.request.network = network_mode(config, value);
    } else if (key == "registry") {
      read_registry(config, value, entry.request.registry);
    } else if (key == "enabled") {
      entry.enabled = config.boolean(value, key);
    } else if (key == "initramfs") {
      entry.initramfs = config.boolean(value, key);
    } else {
      config.error(item.first, key,
                   "unknown key (known: artifact, trust, parameters, network, registry, enabled, initramfs)");
    }
  }
  // The file names one artifact, so `plain-http: true` in it is already scoped to that
  // artifact's registry: it is what the command line's --insecure-registry says.
  if (entry.request.registry.plain_http) {
    entry.request.registry.insecure_registries.push_back(entry.request.reference.registry().registry);
  }
  return entry;
}

std::vector<fs::path> boot_config_files(const fs::path& directory) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec))
    fail(ErrorKind::usage, "{}: no such configuration directory", directory.string());
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(directory)) {
    const std::string name = entry.path().filename().string();
    const auto extension = entry.path().extension();
    if (name.starts_with(".") || (extension != ".yaml" && extension != ".yml")) continue;
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Error naming_file(const Error& error, const fs::path& file) {
  // Parse errors already name the file; load errors get it here.
  const std::string message = error.what();
  return message.starts_with(file.string()) ? error
                                            : Error(error.kind(), fmt::format("{}: {}", file.string(), message));
}

std::vector<BootResult> load_boot_config(const fs::path& directory, const std::vector<fs::path>& trust,
                                         const LoaderPaths& paths, Kernel& kernel) {
  return for_each_boot_entry<LoadReport>(directory, trust,
                                         [&](const BootEntry& entry) { return load(entry.request, paths, kernel); });
}

}  // namespace ckms::loader
