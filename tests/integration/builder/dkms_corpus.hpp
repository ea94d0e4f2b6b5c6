#pragma once
// The corpus of real dkms.conf files (tests/corpus/fetch-dkms-packages.sh) and two ways of
// reading one with bash on the test host: ckms's evaluation script, and DKMS's own
// read_conf taken from /usr/sbin/dkms. Running a package's dkms.conf on the test host is
// test code comparing against DKMS, with `env -i` in a scratch copy of the tree; ckms
// itself only ever runs the script inside the build sandbox.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ckms/builder/dkms_conf.hpp"

namespace ckms::builder::corpus {

struct Package {
  std::string name;            // Debian package, e.g. v4l2loopback-dkms
  std::filesystem::path tree;  // its /usr/src/<module>-<version>
};

// Fetches what is missing (network) and lists what is present; empty when nothing could
// be fetched.
std::vector<Package> packages();

// A scratch kernel source dir holding only `.config` with the given text.
std::filesystem::path fake_kernel_dir(const std::filesystem::path& parent, const std::string& name,
                                      const std::string& config_text);

// ckms's evaluation script run by bash; returns the raw variables it dumped.
RawVariables evaluate_with_bash(const std::filesystem::path& tree, const DkmsEnvironment& env);

// What DKMS's read_conf leaves behind: its lower-case arrays (built_module_name, strip,
// patch_array, ...), the scalars make_command, clean, build_exclude, package_name, and
// "rc" (read_conf's status). Absent when /usr/sbin/dkms is not installed.
std::optional<RawVariables> dkms_read_conf(const std::filesystem::path& tree, const DkmsEnvironment& env);

}  // namespace ckms::builder::corpus
