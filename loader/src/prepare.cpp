#include "prepare.hpp"

#include <map>
#include <set>

#include "ckms/base/error.hpp"
#include "ckms/kmod/compress.hpp"
#include "ckms/loader/vermagic.hpp"

namespace ckms::loader::detail {

namespace {

// A module of that name is in the kernel: the same build is fine (nothing to insert), any
// other is refused, because inserting ours would fail and replacing it is not ours to do.
bool check_loaded(Kernel& kernel, const PreparedModule& module) {
  const std::string& name = module.image.name;
  switch (kernel.state(name)) {
    case ModuleState::absent: return false;
    case ModuleState::builtin:
      fail(ErrorKind::refused, "module {} is built into this kernel; {} cannot replace it", name,
           module.file->file_name);
    case ModuleState::going: fail(ErrorKind::refused, "module {} is being removed right now; try again", name);
    case ModuleState::live:
    case ModuleState::coming: break;
  }
  const auto loaded = kernel.srcversion(name);
  if (loaded && !module.info.srcversion.empty() && *loaded == module.info.srcversion) return true;
  fail(ErrorKind::refused,
       "a different module {} is loaded (srcversion {}; {} has {}): unload it first (`ckms unload {}` or rmmod)", name,
       loaded.value_or("unknown"), module.file->file_name,
       module.info.srcversion.empty() ? "none" : module.info.srcversion, name);
}

}  // namespace

std::vector<PreparedModule> prepare_modules(const artifact::ResolvedModule& module, Staging& staging,
                                            const kmod::TrustedCertificates& trusted,
                                            const std::vector<artifact::ParameterSetting>& settings,
                                            std::string_view kernel_release, std::string_view machine, Kernel* kernel) {
  std::vector<PreparedModule> out;
  std::map<std::string, std::vector<std::string>> declared;
  for (const auto& file : module.config.files) {
    LocalBlob blob = staging.read_layer(file);
    const std::string what = fmt::format("{} ({})", file.file_name, file.digest.str());
    // The signature first: everything after it reads bytes that a trusted key vouched for.
    const kmod::Verified verified = kmod::verify_module(blob.bytes, trusted, what);

    PreparedModule prepared;
    prepared.file = &file;
    prepared.signer = verified.certificate_subject;
    prepared.signer_certificate = verified.certificate_der;
    const auto compression = kmod::detect_compression(std::string_view(blob.bytes).substr(0, 8));
    if (compression == kmod::Compression::none) {
      prepared.image.bytes = std::move(blob.bytes);
      prepared.image.file = std::move(blob.file);
    } else {
      prepared.image.bytes = kmod::decompress(blob.bytes, compression, kmod::kDefaultDecompressLimit, what);
    }
    prepared.info = kmod::read_modinfo(prepared.image.bytes, what);
    check_module(prepared.info, file, kernel_release, machine);
    prepared.image.name = kmod::normalize_module_name(prepared.info.name);
    prepared.image.what = what;

    auto& names = declared[prepared.image.name];
    for (const auto& parameter : prepared.info.parameters) names.push_back(parameter.name);
    if (kernel != nullptr) prepared.already_loaded = check_loaded(*kernel, prepared);
    out.push_back(std::move(prepared));
  }

  // Defaults apply only with a trusted signature over them: the registry cannot add or
  // change a parameter that the module signatures above would then seem to vouch for.
  artifact::verify_default_parameters(
      module.config, trusted,
      fmt::format("{} {} ({})", module.config.name, module.config.version, module.manifest_descriptor.digest.str()));
  const auto parameters = artifact::resolve_parameters(settings, declared, module.config.default_parameters);
  const auto given = artifact::resolve_parameters(settings, declared, {});
  for (auto& prepared : out) {
    const auto it = parameters.find(prepared.image.name);
    if (it == parameters.end()) continue;
    prepared.parameters = it->second;
    const auto from_command_line = given.find(prepared.image.name);
    for (const auto& [name, value] : it->second) {
      const bool given_here = from_command_line != given.end() && from_command_line->second.contains(name);
      prepared.parameter_sources[name] = given_here ? "command line" : "signed default";
    }
  }
  return out;
}

std::vector<Dependency> external_dependencies(const std::vector<PreparedModule>& modules) {
  std::set<std::string> ours;
  for (const auto& module : modules) ours.insert(module.image.name);
  std::set<std::string> before;
  std::vector<Dependency> out;
  for (const auto& module : modules) {
    for (const auto& dependency : module.info.depends) {
      const std::string key = kmod::normalize_module_name(dependency);
      if (!ours.contains(key)) {
        out.push_back(Dependency{.name = dependency, .needed_by = module.image.name});
      } else if (!before.contains(key)) {
        fail(ErrorKind::integrity, "{}: needs module {}, which the artifact lists after it (files are in load order)",
             module.file->file_name, key);
      }
    }
    before.insert(module.image.name);
  }
  return out;
}

}  // namespace ckms::loader::detail
