#include "module_builds.hpp"

#include <catch2/catch.hpp>

#include "ckms/base/io.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "ckms/kmod/signature.hpp"
#include "guest_kernel.hpp"
#include "testkit.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;

fs::path kbuild(const fs::path& source, const std::string& release, const fs::path& work) {
  const fs::path dir = work / (source.filename().string() + "-" + release);
  fs::remove_all(dir);
  fs::copy(source, dir, fs::copy_options::recursive);
  run_ok({"make", "-s", "-j2", "-C", "/usr/src/linux-headers-" + release, "M=" + dir.string(), "modules"});
  return dir;
}

std::string sign(const fs::path& ko, const kmod::SigningKey& key, const kmod::SignOptions& options) {
  return kmod::sign_module(ckms::read_file(ko, 64 << 20), key, options, ko.filename().string());
}

artifact::PublishedModule publish_files(oci::Target& target, const std::string& package,
                                        const std::string& config_release, const std::vector<ArtifactFile>& files,
                                        const std::map<std::string, artifact::ParameterValues>& defaults,
                                        const fs::path& work, const kmod::SigningKey* defaults_key) {
  const fs::path dir = work / "publish" / (package + "-" + config_release);
  fs::create_directories(dir);
  artifact::BuiltModuleSet built{.config = {.name = package, .version = "1.0.0", .kernel_release = config_release},
                                 .files_dir = dir};
  built.config.default_parameters = defaults;
  built.config.provenance.ckms_version = "test";
  for (const auto& file : files) {
    ckms::AtomicFile out(dir / file.file_name);
    out.write(file.bytes);
    out.commit();
    const auto info = kmod::read_modinfo(file.bytes, file.file_name);
    std::string signer;
    if (const auto signature = kmod::split_signature(file.bytes, file.file_name)) {
      signer = kmod::read_signer(signature->cms_der, file.file_name).issuer;
    }
    built.config.files.push_back(artifact::ModuleFile{.file_name = file.file_name,
                                                      .module_name = info.name,
                                                      .vermagic = info.vermagic,
                                                      .srcversion = info.srcversion,
                                                      .depends = info.depends,
                                                      .signer = signer,
                                                      .install_location = "extra"});
  }
  if (defaults_key != nullptr) artifact::sign_default_parameters(built.config, dir, *defaults_key, {});
  auto published = artifact::publish_module(target, std::move(built));
  artifact::update_module_index(target, "1.0.0");
  return published;
}

}  // namespace ckms::loader::test
