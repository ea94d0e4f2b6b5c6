#include "loader_fixture.hpp"

#include <algorithm>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <catch2/catch.hpp>

#include "../kmod/tiny_elf.hpp"
#include "ckms/base/io.hpp"
#include "ckms/kmod/keygen.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/oci/layout.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;

const Keys& keys() {
  static testkit::TempDir dir{"ckms-loader-keys"};
  static const Keys made = [] {
    Keys k{dir / "trusted.key", dir / "trusted.crt", dir / "untrusted.key", dir / "untrusted.crt"};
    kmod::generate_signing_key(k.trusted_key, k.trusted_cert, {.common_name = "ckms test trusted", .rsa_bits = 2048});
    kmod::generate_signing_key(k.untrusted_key, k.untrusted_cert,
                               {.common_name = "ckms test untrusted", .rsa_bits = 2048});
    return k;
  }();
  return made;
}

std::string module_file(const TinyModule& module) {
  std::string modinfo = "license=GPL";
  modinfo.push_back('\0');
  modinfo += "name=" + module.name;
  modinfo.push_back('\0');
  modinfo += "vermagic=" + module.built_for + " SMP preempt mod_unload modversions ";
  modinfo.push_back('\0');
  modinfo += "srcversion=" + module.srcversion;
  modinfo.push_back('\0');
  modinfo += "depends=" + fmt::format("{}", fmt::join(module.depends, ","));
  modinfo.push_back('\0');
  for (const auto& parameter : module.parameters) {
    modinfo += "parmtype=" + parameter + ":charp";
    modinfo.push_back('\0');
  }
  std::string bytes = kmod::test::tiny_elf(modinfo, module.machine).bytes;
  if (!module.unsigned_module) {
    const auto& k = keys();
    static std::map<bool, std::unique_ptr<kmod::SigningKey>> signing;
    auto& key = signing[module.untrusted];
    if (!key) {
      key = std::make_unique<kmod::SigningKey>(module.untrusted
                                                   ? kmod::SigningKey::load(k.untrusted_key, k.untrusted_cert)
                                                   : kmod::SigningKey::load(k.trusted_key, k.trusted_cert));
    }
    bytes = kmod::sign_module(bytes, *key, {}, module.name);
  }
  if (module.compression != kmod::Compression::none) bytes = kmod::compress(bytes, module.compression, module.name);
  return bytes;
}

LoaderFixture::LoaderFixture()
    : paths{.cache_dir = dir / "cache",
            .state_dir = dir / "state",
            .modules_root = dir / "modules",
            .trust_dir = dir / "trust.d"} {
  // A node's cache exists from its first load on; comparing fingerprints starts from there.
  ModuleCache cache(paths.cache_dir);
}

fs::path LoaderFixture::source(const std::string& package) const {
  return dir / "source" / (shared_layout.empty() ? package : shared_layout);
}

artifact::PublishedModule LoaderFixture::publish(const std::string& package, const std::vector<TinyModule>& modules,
                                                 const std::map<std::string, artifact::ParameterValues>& defaults,
                                                 const std::string& config_release, const std::string& version) {
  const fs::path files = dir / "files" / package / config_release;
  fs::create_directories(files);
  artifact::BuiltModuleSet built{
      .config = {.name = package, .version = version, .kernel_release = config_release, .arch = arch},
      .files_dir = files};
  built.config.default_parameters = defaults;
  if (const auto it = build_depends.find(package); it != build_depends.end()) built.config.build_depends = it->second;
  for (const auto& module : modules) {
    const std::string file_name = module.name + ".ko" + std::string(kmod::suffix(module.compression));
    ckms::AtomicFile out(files / file_name);
    out.write(module_file(module));
    out.commit();
    built.config.files.push_back(
        artifact::ModuleFile{.file_name = file_name,
                             .module_name = module.name,
                             .vermagic = module.built_for + " SMP preempt mod_unload modversions ",
                             .srcversion = module.srcversion,
                             .depends = module.config_lists_depends ? module.depends : std::vector<std::string>{},
                             .signer = module.untrusted ? "CN = ckms test untrusted" : "CN = ckms test trusted"});
  }
  if (defaults_mode != Defaults::unsigned_) {
    artifact::sign_default_parameters(built.config, files,
                                      kmod::SigningKey::load(keys().trusted_key, keys().trusted_cert), {});
  }
  if (defaults_mode == Defaults::changed_after_signing) {
    for (auto& [module, values] : built.config.default_parameters) {
      for (auto& [name, value] : values) value += "-changed";
    }
  }
  oci::Layout layout(source(package), oci::Layout::Mode::create_if_missing);
  return artifact::publish_module(layout, std::move(built));
}

LoadRequest LoaderFixture::request(const std::string& package, const std::string& version) const {
  LoadRequest r{.reference = oci::Reference::parse(fmt::format("oci:{}:{}", source(package).string(), version))};
  r.trust = {keys().trusted_cert};
  return r;
}

std::string LoaderFixture::cache_fingerprint() const {
  std::vector<std::string> lines;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(paths.cache_dir, ec)) {
    std::string line = fs::relative(entry.path(), paths.cache_dir).string();
    if (entry.is_regular_file()) line += " " + ckms::digest_of_file(entry.path()).str();
    lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  return fmt::format("{}", fmt::join(lines, "\n"));
}

}  // namespace ckms::loader::test
