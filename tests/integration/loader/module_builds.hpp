#pragma once
// Module artifacts as `ckms build` publishes them, made here from parts: kbuild on the host
// against Debian's headers, kmod::sign_module, artifact::publish_module with a config
// filled from each signed file's modinfo.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/artifact/module_parameters.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::loader::test {

// `make -C /usr/src/linux-headers-<release> M=<copy of source> modules` in `work`; returns
// the directory holding the .ko files (unsigned).
std::filesystem::path kbuild(const std::filesystem::path& source, const std::string& release,
                             const std::filesystem::path& work);

struct ArtifactFile {
  std::string file_name;  // e.g. ckms_hello.ko
  std::string bytes;      // signed (or not), exactly as the kernel gets them
};

std::string sign(const std::filesystem::path& ko, const kmod::SigningKey& key, const kmod::SignOptions& options = {});

// Publishes `files` (in load order) as `package` 1.0.0 for `config_release`, tagged
// 1.0.0-<config_release>, and updates the 1.0.0 index. `defaults` are signed with
// `defaults_key` as `ckms build` signs them (a loader applies no unsigned default).
artifact::PublishedModule publish_files(oci::Target& target, const std::string& package,
                                        const std::string& config_release, const std::vector<ArtifactFile>& files,
                                        const std::map<std::string, artifact::ParameterValues>& defaults,
                                        const std::filesystem::path& work,
                                        const kmod::SigningKey* defaults_key = nullptr);

}  // namespace ckms::loader::test
