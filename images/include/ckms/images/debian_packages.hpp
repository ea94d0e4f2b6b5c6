#pragma once
// Which Debian packages make a kernel's headers tree, and where their .deb files come from.
// For release R: linux-headers-R, plus what it depends on among linux-headers-* (the
// -common tree its Makefile includes by absolute path) and linux-kbuild-* (the scripts and
// tools its links point at), followed transitively. The compiler packages it also depends
// on belong to the toolchain layer and are left out.
// Across architectures (docs/images.md, "Another architecture"): linux-headers-R is the
// target's (arm64), -common is "all", and linux-kbuild-* is the build machine's, because its
// fixdep, modpost and sign-file run there.

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/images/deb.hpp"

namespace ckms::images {

// One relation of a Depends field; of alternatives ("a | b") only the first is kept.
struct Dependency {
  std::string package;
  std::string relation;  // "", "=", ">=", "<=", ">>", "<<"
  std::string version;
  // The Debian architecture the package must be built for ("all" always fits); empty: any.
  std::string architecture;
};

std::vector<Dependency> parse_depends(std::string_view depends, std::string_view where);

struct PackageFile {
  std::filesystem::path file;
  DebControl control;
};

class PackageSource {
 public:
  virtual ~PackageSource() = default;
  // The .deb satisfying `dependency`; throws not_found naming the package when there is none.
  virtual PackageFile get(const Dependency& dependency) = 0;
};

// `apt-get download` into a cache directory, with the host's apt sources and keys; a file
// already in the cache is used again without downloading.
class AptSource final : public PackageSource {
 public:
  explicit AptSource(std::filesystem::path cache_dir);
  PackageFile get(const Dependency& dependency) override;

 private:
  std::filesystem::path cache_dir_;
};

// Packages the user downloaded beforehand (--debs DIR), for hosts without apt or network.
class DirectorySource final : public PackageSource {
 public:
  explicit DirectorySource(const std::filesystem::path& directory);
  PackageFile get(const Dependency& dependency) override;

 private:
  std::filesystem::path directory_;
  std::vector<PackageFile> packages_;
};

// Debian architecture names: the kernel's (whose modules are built) and the build machine's.
struct HeadersArchitectures {
  std::string target;
  std::string build;
};

// The headers packages of `release`, linux-headers-<release> first. With `architectures`,
// linux-headers-<release> must be the target's and every package it pulls in the build
// machine's (or "all"); without, the first candidate of each name is taken.
std::vector<PackageFile> kernel_header_packages(std::string_view release, PackageSource& source,
                                                const std::optional<HeadersArchitectures>& architectures = {});

}  // namespace ckms::images
