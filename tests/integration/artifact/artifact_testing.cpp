#include "artifact_testing.hpp"

#include "testkit.hpp"

namespace ckms::artifact::test {
namespace fs = std::filesystem;

testkit::RegistryFixture& registry() {
  static testkit::RegistryFixture fixture(testkit::RegistrySetup::open_http);
  return fixture;
}

std::unique_ptr<oci::RegistryRepository> repository(const std::string& name) {
  return std::make_unique<oci::RegistryRepository>(registry().reference("ckms/" + name), registry().options());
}

BuiltModuleSet module_set(const fs::path& dir, const std::string& version, const std::string& release) {
  const fs::path files = dir / ("files-" + version + "-" + release);
  fs::create_directories(files);
  testkit::write_text(files / "base.ko", "base module for " + release + std::string(4096, 'b'));
  testkit::write_text(files / "hello.ko", "hello " + version + " for " + release + std::string(8192, 'h'));
  ModuleConfig config{.name = "hello", .version = version, .kernel_release = release};
  config.files = {ModuleFile{.file_name = "base.ko", .module_name = "base", .vermagic = release + " SMP mod_unload "},
                  ModuleFile{.file_name = "hello.ko",
                             .module_name = "hello",
                             .vermagic = release + " SMP mod_unload ",
                             .depends = {"base"},
                             .install_location = "/updates/dkms"}};
  config.default_parameters["hello"]["greeting"] = "hi";
  config.provenance.ckms_version = "test";
  config.provenance.created = "2026-01-01T00:00:00Z";
  return BuiltModuleSet{.config = config, .files_dir = files, .cache_key = "cache-" + release};
}

fs::path registry_blob_file(const ckms::Digest& digest) {
  return registry().storage() / "docker" / "registry" / "v2" / "blobs" / "sha256" / digest.hex().substr(0, 2) /
         digest.hex() / "data";
}

}  // namespace ckms::artifact::test
