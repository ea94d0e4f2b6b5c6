// A second process for the concurrency tests, doing through the libraries what `ckms build`
// and `ckms load` do on the network side:
//   faults_helper publish REGISTRY REPOSITORY VERSION RELEASE FILE
//     publishes FILE as the module artifact of VERSION for RELEASE, then rebuilds the index;
//   faults_helper fetch REGISTRY REPOSITORY VERSION RELEASE CACHE_DIR
//     fetches that artifact into the loader's cache.
// Exits 0 on success, 1 with the error on stderr.

#include <cstdio>
#include <filesystem>
#include <string>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/loader/cache.hpp"
#include "ckms/oci/registry.hpp"

namespace fs = std::filesystem;
using namespace ckms;

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s publish|fetch REGISTRY REPOSITORY VERSION RELEASE PATH\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1], version = argv[4], release = argv[5];
  const fs::path path = argv[6];
  oci::RegistryReference reference;
  reference.registry = argv[2];
  reference.repository = argv[3];
  oci::RegistryOptions options;
  options.plain_http = true;
  options.initial_backoff = std::chrono::milliseconds(50);
  options.auth_file = "/nonexistent/ckms-test-auth.json";
  try {
    oci::RegistryRepository repository(reference, options);
    if (mode == "publish") {
      artifact::ModuleConfig config{.name = "racy", .version = version, .kernel_release = release};
      config.files = {artifact::ModuleFile{
          .file_name = path.filename().string(), .module_name = "racy", .vermagic = release + " SMP mod_unload "}};
      config.provenance.ckms_version = "test";
      config.provenance.created = "2026-01-01T00:00:00Z";
      artifact::publish_module(repository, artifact::BuiltModuleSet{.config = config, .files_dir = path.parent_path()});
      artifact::update_module_index(repository, version);
    } else if (mode == "fetch") {
      loader::ModuleCache cache(path);
      const auto module = artifact::resolve_module(repository, version, release);
      loader::Staging staging(cache, &repository);
      staging.fetch(module);
      staging.commit(module, loader::ModuleCache::record_name(reference.repository_str(), version, release));
    } else {
      std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
      return 2;
    }
  } catch (const ckms::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
