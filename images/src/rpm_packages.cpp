#include "ckms/images/rpm_packages.hpp"

#include <algorithm>
#include <set>

#include "ckms/base/error.hpp"

namespace ckms::images {
namespace fs = std::filesystem;

namespace {

// rpm's name for the only architecture ckms builds images for (linux/amd64).
constexpr std::string_view kImageArch = "x86_64";

// The kernel releases a package builds for, from its kernel-devel-uname-r Provides.
std::vector<std::string> provided_releases(const RpmHeader& header) {
  std::vector<std::string> releases;
  for (const auto& provide : header.provides) {
    if (provide.name == kKernelDevelProvide && provide.relation == "=") releases.push_back(provide.version);
  }
  return releases;
}

std::string file_names(const std::vector<const RpmPackageFile*>& packages) {
  std::string names;
  for (const auto* package : packages) names += " " + package->file.filename().string();
  return names;
}

}  // namespace

RpmDirectorySource::RpmDirectorySource(const fs::path& directory) : directory_(directory) {
  if (!fs::is_directory(directory))
    fail(ErrorKind::not_found, "{}: no such directory of .rpm files", directory.string());
  for (const auto& entry : fs::directory_iterator(directory)) {
    if (entry.path().extension() != ".rpm" || !entry.is_regular_file()) continue;
    packages_.push_back({entry.path(), read_rpm_header(entry.path())});
  }
  // Directory order is arbitrary; a fixed order keeps the choice and messages stable.
  std::sort(packages_.begin(), packages_.end(),
            [](const RpmPackageFile& a, const RpmPackageFile& b) { return a.file < b.file; });
}

RpmPackageFile RpmDirectorySource::kernel_devel(std::string_view release) const {
  std::vector<const RpmPackageFile*> matches;
  std::set<std::string> available;
  for (const auto& package : packages_) {
    if (package.header.source_package) continue;
    const auto releases = provided_releases(package.header);
    available.insert(releases.begin(), releases.end());
    if (std::find(releases.begin(), releases.end(), release) != releases.end()) matches.push_back(&package);
  }
  if (matches.empty()) {
    std::string known;
    for (const auto& name : available) known += " " + name;
    fail(ErrorKind::not_found, "kernel {}: no package in {} provides {} = {} (kernel-devel-{}.rpm or a flavour's); {}",
         release, directory_.string(), kKernelDevelProvide, release, release,
         known.empty() ? std::string("it has no kernel-devel package at all") : "it has kernel-devel for:" + known);
  }
  const auto other_arch = std::stable_partition(matches.begin(), matches.end(),
                                                [](const RpmPackageFile* p) { return p->header.arch == kImageArch; });
  if (other_arch == matches.begin()) {
    fail(ErrorKind::usage, "kernel {}: {} is for {}; ckms builds linux/amd64 ({}) images only", release,
         matches.front()->file.filename().string(), matches.front()->header.arch, kImageArch);
  }
  matches.erase(other_arch, matches.end());
  if (matches.size() > 1) {
    // Choosing by version order would need rpm's comparison; an ambiguous directory is more
    // likely a mistake than a wish.
    fail(ErrorKind::usage, "kernel {}: several packages in {} provide {} = {}:{}", release, directory_.string(),
         kKernelDevelProvide, release, file_names(matches));
  }
  return *matches.front();
}

HeadersTree rpm_headers_tree(std::string_view release, const RpmPackageFile& kernel_devel) {
  const RpmHeader& header = kernel_devel.header;
  return HeadersTree{fmt::format("/usr/src/kernels/{}", release),
                     {{kernel_devel.file, header.name, header.evr(), header.build_time, &unpack_rpm}}};
}

}  // namespace ckms::images
