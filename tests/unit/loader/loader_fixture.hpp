#pragma once
// Real artifacts for the loader's unit tests: module-shaped ELF files (tests/unit/kmod's
// tiny_elf) signed with keys made by kmod::generate_signing_key, published with
// artifact::publish_module into OCI layouts that stand in for registries, loaded with the
// real loader against a ModelKernel.

#include <elf.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/kmod/compress.hpp"
#include "ckms/loader/load.hpp"
#include "model_kernel.hpp"
#include "testkit.hpp"

namespace ckms::loader::test {

inline constexpr std::string_view kRelease = "6.1.0-56-cloud-amd64";
inline constexpr std::string_view kOtherRelease = "6.1.0-55-cloud-amd64";

struct Keys {
  std::filesystem::path trusted_key, trusted_cert, untrusted_key, untrusted_cert;
};
// Made once per test process.
const Keys& keys();

struct TinyModule {
  std::string name;
  std::string built_for{kRelease};  // the release in vermagic
  std::string srcversion = "0123456789ABCDEF0123456";
  std::vector<std::string> depends;
  bool config_lists_depends = true;     // false: only the file's depends= names them
  std::vector<std::string> parameters;  // declared (parmtype=NAME:charp)
  bool untrusted = false;               // signed by the other key
  bool unsigned_module = false;
  kmod::Compression compression = kmod::Compression::none;
  std::uint16_t machine = EM_X86_64;  // the ELF header's e_machine; the config says x86_64 anyway
};

// The module file as an artifact carries it: signed, then compressed.
std::string module_file(const TinyModule& module);

class LoaderFixture {
 public:
  LoaderFixture();

  testkit::TempDir dir{"ckms-loader-unit"};
  ModelKernel kernel;
  LoaderPaths paths;
  // How publish() treats default parameters: signed with the trusted key, as `ckms build`
  // does; or as a registry could serve them, unsigned or changed after signing.
  enum class Defaults { signed_, unsigned_, changed_after_signing } defaults_mode = Defaults::signed_;
  // The architecture publish() writes into the config (uname -m), whatever the files are.
  std::string arch = "x86_64";
  // What publish() records as build dependencies, by package.
  std::map<std::string, std::vector<artifact::BuildDependency>> build_depends;
  // Non-empty: every package is published into this one layout under source/.
  std::string shared_layout;

  // Publishes package `package` with `modules` (in load order) into its own layout under
  // source/, tagged <version>-<release>. `config_release` is what the config claims.
  artifact::PublishedModule publish(const std::string& package, const std::vector<TinyModule>& modules,
                                    const std::map<std::string, artifact::ParameterValues>& defaults = {},
                                    const std::string& config_release = std::string(kRelease),
                                    const std::string& version = "1.0.0");
  std::filesystem::path source(const std::string& package) const;
  // oci:<source>/<package>:<version>, trusting the trusted certificate.
  LoadRequest request(const std::string& package, const std::string& version = "1.0.0") const;

  // Everything in the cache directory, file names and bytes: equal fingerprints mean the
  // cache was left as it was.
  std::string cache_fingerprint() const;
};

}  // namespace ckms::loader::test
