// The module config blob: JSON <-> ModuleConfig, and every check a loader relies on. The
// config is read from a registry, so parse() treats it as hostile: a loader that got a
// ModuleConfig from parse() may use its names as file and module names without checking.

#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/artifact/names.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/reference.hpp"
#include "module_internal.hpp"

namespace ckms::artifact {
namespace {

using nlohmann::json;

// Field access that names the blob and the field in every error.
class Fields {
 public:
  Fields(const json& object, std::string where) : object_(object), where_(std::move(where)) {
    if (!object_.is_object()) fail(ErrorKind::integrity, "{}: must be a JSON object", where_);
  }

  std::string string(const char* name, bool required = true) const {
    const auto it = object_.find(name);
    if (it == object_.end()) {
      if (required) fail(ErrorKind::integrity, "{}: '{}' is missing", where_, name);
      return {};
    }
    if (!it->is_string()) fail(ErrorKind::integrity, "{}: '{}' must be a string", where_, name);
    return it->get<std::string>();
  }

  std::optional<ckms::Digest> digest(const char* name, bool required) const {
    const std::string text = string(name, required);
    if (text.empty() && !required) return std::nullopt;
    auto parsed = ckms::Digest::try_parse(text);
    if (!parsed) fail(ErrorKind::integrity, "{}: '{}' is not a valid digest: '{}'", where_, name, text);
    return parsed;
  }

  std::int64_t size(const char* name) const {
    const auto it = object_.find(name);
    if (it == object_.end() || !it->is_number_integer() || it->get<std::int64_t>() < 0) {
      fail(ErrorKind::integrity, "{}: '{}' must be a non-negative integer", where_, name);
    }
    return it->get<std::int64_t>();
  }

  std::vector<std::string> strings(const char* name) const {
    const auto it = object_.find(name);
    if (it == object_.end()) return {};
    if (!it->is_array()) fail(ErrorKind::integrity, "{}: '{}' must be an array", where_, name);
    std::vector<std::string> out;
    for (const auto& item : *it) {
      if (!item.is_string()) fail(ErrorKind::integrity, "{}: '{}' must hold strings", where_, name);
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  const json* child(const char* name, json::value_t type, bool required) const {
    const auto it = object_.find(name);
    if (it == object_.end()) {
      if (required) fail(ErrorKind::integrity, "{}: '{}' is missing", where_, name);
      return nullptr;
    }
    if (it->type() != type) {
      fail(ErrorKind::integrity, "{}: '{}' must be an {}", where_, name,
           type == json::value_t::array ? "array" : "object");
    }
    return &*it;
  }

 private:
  const json& object_;
  std::string where_;
};

ModuleFile file_from_json(const json& j, const std::string& where) {
  const Fields f(j, where);
  return ModuleFile{.file_name = f.string("file"),
                    .module_name = f.string("module"),
                    .vermagic = f.string("vermagic", false),
                    .srcversion = f.string("srcversion", false),
                    .depends = f.strings("depends"),
                    .signer = f.string("signer", false),
                    .install_location = f.string("installLocation", false),
                    .digest = *f.digest("digest", true),
                    .size = f.size("size")};
}

json file_to_json(const ModuleFile& file) {
  json j{{"file", file.file_name},
         {"module", file.module_name},
         {"depends", file.depends},
         {"digest", file.digest.str()},
         {"size", file.size}};
  if (!file.vermagic.empty()) j["vermagic"] = file.vermagic;
  if (!file.srcversion.empty()) j["srcversion"] = file.srcversion;
  if (!file.signer.empty()) j["signer"] = file.signer;
  if (!file.install_location.empty()) j["installLocation"] = file.install_location;
  return j;
}

BuildDependency dependency_from_json(const json& j, const std::string& where) {
  const Fields f(j, where);
  return BuildDependency{.name = f.string("name"),
                         .version = f.string("version"),
                         .repository = f.string("repository", false),
                         .manifest = *f.digest("manifest", true)};
}

json dependency_to_json(const BuildDependency& dependency) {
  json j{{"name", dependency.name}, {"version", dependency.version}, {"manifest", dependency.manifest.str()}};
  if (!dependency.repository.empty()) j["repository"] = dependency.repository;
  return j;
}

void read_symvers_and_dependencies(const Fields& f, std::string_view where, ModuleConfig& config) {
  if (const json* symvers = f.child("symvers", json::value_t::object, false)) {
    const Fields s(*symvers, fmt::format("{} symvers", where));
    config.symvers = SymversFile{.digest = *s.digest("digest", true), .size = s.size("size")};
  }
  if (const json* dependencies = f.child("buildDepends", json::value_t::array, false)) {
    for (std::size_t i = 0; i < dependencies->size(); ++i) {
      config.build_depends.push_back(
          dependency_from_json((*dependencies)[i], fmt::format("{} buildDepends[{}]", where, i)));
    }
  }
}

}  // namespace

namespace detail {

namespace {

// A dependency is loaded by name and version from a repository: all three become parts of
// a reference, and a package cannot come before itself.
void validate_dependencies(const ModuleConfig& config, const std::function<void(const std::string&)>& refuse) {
  std::set<std::string> names;
  for (const auto& dependency : config.build_depends) {
    const std::string what = fmt::format("build dependency '{}'", dependency.name);
    if (!is_plain_token(dependency.name) || !is_plain_token(dependency.version)) {
      refuse(fmt::format("{} {}: name and version must be plain names", what, dependency.version));
    }
    if (dependency.name == config.name) refuse(fmt::format("{} is the package itself", what));
    if (!names.insert(dependency.name).second) refuse(fmt::format("{} is listed twice", what));
    if (!dependency.repository.empty() && !oci::is_valid_repository(dependency.repository)) {
      refuse(fmt::format("{}: '{}' is not a repository name", what, dependency.repository));
    }
  }
}

}  // namespace

void validate(const ModuleConfig& config, ErrorKind kind, std::string_view where) {
  const std::function<void(const std::string&)> refuse = [&](const std::string& what) {
    fail(kind, "{}: {}", where, what);
  };
  if (!is_plain_token(config.name)) refuse(fmt::format("module package name '{}' is not a plain name", config.name));
  if (!is_plain_token(config.version)) refuse(fmt::format("version '{}' is not a plain name", config.version));
  if (!is_plain_token(config.kernel_release)) {
    refuse(fmt::format("kernel release '{}' is not a plain name", config.kernel_release));
  }
  if (!is_plain_token(config.arch)) refuse(fmt::format("arch '{}' is not a plain name", config.arch));
  if (config.files.empty()) refuse("the artifact lists no module files");

  std::set<std::string> file_names;
  std::set<std::string> modules;  // the ones listed so far: dependencies must come first
  for (const auto& file : config.files) {
    if (!is_plain_file_name(file.file_name)) {
      refuse(fmt::format("file name '{}' is not a plain file name", file.file_name));
    }
    const std::string what = fmt::format("file '{}'", file.file_name);
    if (!file_names.insert(file.file_name).second) refuse(fmt::format("{} is listed twice", what));
    if (!is_module_name(file.module_name)) {
      refuse(fmt::format("{}: module name '{}' is not a kernel module name", what, file.module_name));
    }
    if (file.size < 0) refuse(fmt::format("{}: size {} is negative", what, file.size));
    if (!is_install_location(file.install_location)) {
      refuse(
          fmt::format("{}: install location '{}' is not a relative path of plain names", what, file.install_location));
    }
    if (!is_printable(file.vermagic) || !is_printable(file.srcversion) || !is_printable(file.signer)) {
      refuse(fmt::format("{}: vermagic, srcversion and signer must not hold control characters", what));
    }
    for (const auto& dependency : file.depends) {
      if (!is_module_name(dependency)) {
        refuse(fmt::format("{}: dependency '{}' is not a kernel module name", what, dependency));
      }
      if (dependency == file.module_name) refuse(fmt::format("{} depends on itself", what));
    }
    if (!modules.insert(file.module_name).second) {
      refuse(fmt::format("{}: module '{}' is listed twice", what, file.module_name));
    }
  }
  // Load order: a dependency that this artifact carries must be listed before its user.
  std::set<std::string> loaded;
  for (const auto& file : config.files) {
    for (const auto& dependency : file.depends) {
      if (modules.contains(dependency) && !loaded.contains(dependency)) {
        refuse(fmt::format("file '{}': its dependency '{}' is listed after it (files are in load order)",
                           file.file_name, dependency));
      }
    }
    loaded.insert(file.module_name);
  }

  validate_dependencies(config, refuse);
  for (const auto& [module, parameters] : config.default_parameters) {
    if (!modules.contains(module)) {
      refuse(fmt::format("default parameters name module '{}', which the artifact does not carry", module));
    }
    for (const auto& [name, value] : parameters) {
      if (!is_parameter_name(name)) refuse(fmt::format("module '{}': parameter name '{}' is invalid", module, name));
      if (!is_printable(value)) {
        refuse(fmt::format("module '{}': parameter '{}' has control characters in its value", module, name));
      }
    }
  }
}

}  // namespace detail

ModuleConfig ModuleConfig::parse(std::string_view bytes, std::string_view where) {
  if (bytes.size() > oci::kMaxManifestBytes) {
    fail(ErrorKind::refused, "{}: {} bytes is more than the {} a config may have", where, bytes.size(),
         oci::kMaxManifestBytes);
  }
  const json j = json::parse(bytes, nullptr, false);
  if (j.is_discarded()) fail(ErrorKind::integrity, "{}: not JSON", where);
  const Fields f(j, std::string(where));
  ModuleConfig config;
  config.name = f.string("name");
  config.version = f.string("version");
  config.kernel_release = f.string("kernelRelease");
  config.arch = f.string("arch");

  const json* files = f.child("files", json::value_t::array, true);
  for (std::size_t i = 0; i < files->size(); ++i) {
    config.files.push_back(file_from_json((*files)[i], fmt::format("{} files[{}]", where, i)));
  }

  if (const json* parameters = f.child("defaultParameters", json::value_t::object, false)) {
    for (const auto& [module, values] : parameters->items()) {
      if (!values.is_object()) {
        fail(ErrorKind::integrity, "{}: defaultParameters['{}'] must be an object", where, module);
      }
      for (const auto& [name, value] : values.items()) {
        if (!value.is_string()) {
          fail(ErrorKind::integrity, "{}: defaultParameters['{}']['{}'] must be a string", where, module, name);
        }
        config.default_parameters[module][name] = value.get<std::string>();
      }
    }
  }

  config.default_parameters_signature = f.string("defaultParametersSignature", false);
  read_symvers_and_dependencies(f, where, config);

  if (const json* provenance = f.child("provenance", json::value_t::object, false)) {
    const Fields p(*provenance, fmt::format("{} provenance", where));
    config.provenance.source = p.digest("source", false);
    config.provenance.build_image = p.digest("buildImage", false);
    config.provenance.ckms_version = p.string("ckmsVersion", false);
    config.provenance.created = p.string("created", false);
  }

  detail::validate(config, ErrorKind::integrity, where);
  return config;
}

std::string ModuleConfig::serialize() const {
  json files_json = json::array();
  for (const auto& file : files) files_json.push_back(file_to_json(file));
  json j{
      {"name", name}, {"version", version}, {"kernelRelease", kernel_release}, {"arch", arch}, {"files", files_json}};
  if (!default_parameters.empty()) j["defaultParameters"] = default_parameters;
  if (!default_parameters_signature.empty()) j["defaultParametersSignature"] = default_parameters_signature;
  if (symvers) j["symvers"] = {{"digest", symvers->digest.str()}, {"size", symvers->size}};
  if (!build_depends.empty()) {
    json dependencies = json::array();
    for (const auto& dependency : build_depends) dependencies.push_back(dependency_to_json(dependency));
    j["buildDepends"] = dependencies;
  }
  json p = json::object();
  if (provenance.source) p["source"] = provenance.source->str();
  if (provenance.build_image) p["buildImage"] = provenance.build_image->str();
  if (!provenance.ckms_version.empty()) p["ckmsVersion"] = provenance.ckms_version;
  if (!provenance.created.empty()) p["created"] = provenance.created;
  if (!p.empty()) j["provenance"] = p;
  // nlohmann's objects are std::maps: keys come out sorted, so equal configs give equal bytes.
  try {
    return j.dump();
  } catch (const json::exception& e) {
    fail(ErrorKind::usage, "module config of {} {} for {}: {}", name, version, kernel_release, e.what());
  }
}

}  // namespace ckms::artifact
