#include "ckms/images/debian_packages.hpp"

#include <unistd.h>
#include <cctype>

#include <algorithm>
#include <set>

#include "ckms/base/error.hpp"
#include "ckms/base/process.hpp"

namespace ckms::images {
namespace fs = std::filesystem;

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

std::string describe(const Dependency& dependency) {
  const std::string name =
      dependency.architecture.empty() ? dependency.package : dependency.package + ":" + dependency.architecture;
  if (dependency.relation.empty()) return name;
  return fmt::format("{} ({} {})", name, dependency.relation, dependency.version);
}

bool fits_architecture(const DebControl& control, const Dependency& wanted) {
  const std::string architecture = control.field("Architecture");
  return wanted.architecture.empty() || architecture == wanted.architecture || architecture == "all";
}

// Only headers and kbuild packages make the headers tree (see the header comment).
bool is_headers_tree_package(std::string_view package) {
  return package.starts_with("linux-headers-") || package.starts_with("linux-kbuild-");
}

void check_matches(const PackageFile& found, const Dependency& wanted) {
  if (found.control.package() != wanted.package ||
      (wanted.relation == "=" && found.control.version() != wanted.version)) {
    fail(ErrorKind::integrity, "{}: holds {} {}, not {}", found.file.string(), found.control.package(),
         found.control.version(), describe(wanted));
  }
  if (!fits_architecture(found.control, wanted)) {
    fail(ErrorKind::integrity, "{}: is built for architecture '{}', not {}", found.file.string(),
         found.control.field("Architecture"), wanted.architecture);
  }
}

}  // namespace

std::vector<Dependency> parse_depends(std::string_view depends, std::string_view where) {
  std::vector<Dependency> result;
  while (!depends.empty()) {
    const std::size_t comma = depends.find(',');
    std::string_view item = depends.substr(0, comma);
    depends = comma == std::string_view::npos ? std::string_view() : depends.substr(comma + 1);
    item = trim(item.substr(0, item.find('|')));
    if (item.empty()) continue;
    Dependency dependency;
    const std::size_t paren = item.find('(');
    std::string_view name = trim(item.substr(0, paren));
    name = name.substr(0, name.find(':'));  // multiarch qualifier (":any") does not name a package
    dependency.package = std::string(name);
    if (paren != std::string_view::npos) {
      const std::size_t close = item.find(')', paren);
      if (close == std::string_view::npos) fail(ErrorKind::integrity, "{}: unclosed '(' in Depends: {}", where, item);
      std::string_view relation = trim(item.substr(paren + 1, close - paren - 1));
      const std::size_t op_end = relation.find_first_not_of("<>=");
      if (op_end == 0 || op_end == std::string_view::npos) {
        fail(ErrorKind::integrity, "{}: malformed version relation in Depends: {}", where, item);
      }
      dependency.relation = std::string(relation.substr(0, op_end));
      dependency.version = std::string(trim(relation.substr(op_end)));
    }
    if (dependency.package.empty()) fail(ErrorKind::integrity, "{}: empty package name in Depends", where);
    result.push_back(std::move(dependency));
  }
  return result;
}

AptSource::AptSource(fs::path cache_dir) : cache_dir_(std::move(cache_dir)) { fs::create_directories(cache_dir_); }

PackageFile AptSource::get(const Dependency& dependency) {
  // Only an exact version can be asked of apt; otherwise apt's candidate is what an
  // `apt-get install` of the headers would pick too.
  // apt takes "pkg:arch" for any architecture dpkg knows (dpkg --add-architecture), and for
  // an "all" package with the native one.
  std::string spec = dependency.package;
  if (!dependency.architecture.empty()) spec += ":" + dependency.architecture;
  if (dependency.relation == "=") spec += "=" + dependency.version;
  // apt prints nothing for a file already in its working directory, so it is asked from an
  // empty one; the download also lands there first, so the cache only ever holds whole files.
  // Per process, so that two builds can share one cache.
  const fs::path scratch = cache_dir_ / fmt::format(".download-{}", ::getpid());
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  const auto uris = run_process({"apt-get", "download", "--print-uris", spec}, scratch);
  if (uris.exit_code != 0) {
    fail(ErrorKind::not_found, "{}: apt cannot find it (apt-get download {}): {}", describe(dependency), spec,
         trim(uris.err));
  }
  // Lines: 'URI' FILENAME SIZE HASH
  std::string filename;
  for (std::string_view text = uris.err; !text.empty();) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!line.starts_with('\'')) continue;
    const std::size_t space = line.find(' ');
    const std::size_t next = line.find(' ', space + 1);
    if (space != std::string_view::npos) filename = std::string(line.substr(space + 1, next - space - 1));
  }
  if (filename.empty() || filename.find('/') != std::string::npos) {
    fail(ErrorKind::not_found, "{}: apt-get download --print-uris {} named no file", describe(dependency), spec);
  }
  const fs::path file = cache_dir_ / filename;
  if (!fs::exists(file)) {
    const auto download = run_process({"apt-get", "download", spec}, scratch);
    if (download.exit_code != 0 || !fs::exists(scratch / filename)) {
      fail(ErrorKind::network, "{}: apt-get download {} failed: {}", describe(dependency), spec, trim(download.err));
    }
    fs::rename(scratch / filename, file);
  }
  fs::remove_all(scratch);
  PackageFile found{file, read_deb_control(file)};
  check_matches(found, dependency);
  return found;
}

DirectorySource::DirectorySource(const fs::path& directory) : directory_(directory) {
  if (!fs::is_directory(directory))
    fail(ErrorKind::not_found, "{}: no such directory of .deb files", directory.string());
  for (const auto& entry : fs::directory_iterator(directory)) {
    if (entry.path().extension() != ".deb" || !entry.is_regular_file()) continue;
    packages_.push_back({entry.path(), read_deb_control(entry.path())});
  }
  // Directory order is arbitrary; a fixed order keeps the choice and messages stable.
  std::sort(packages_.begin(), packages_.end(),
            [](const PackageFile& a, const PackageFile& b) { return a.file < b.file; });
}

PackageFile DirectorySource::get(const Dependency& dependency) {
  std::vector<const PackageFile*> matches;
  for (const auto& package : packages_) {
    if (package.control.package() != dependency.package) continue;
    if (dependency.relation == "=" && package.control.version() != dependency.version) continue;
    if (!fits_architecture(package.control, dependency)) continue;
    matches.push_back(&package);
  }
  if (matches.empty()) {
    fail(ErrorKind::not_found, "{}: no such package in {}", describe(dependency), directory_.string());
  }
  if (matches.size() > 1) {
    // Choosing by version order would need dpkg's comparison; an ambiguous directory is
    // more likely a mistake than a wish.
    std::string files;
    for (const auto* match : matches) files += " " + match->file.filename().string();
    fail(ErrorKind::usage, "{}: several candidates in {}:{}", describe(dependency), directory_.string(), files);
  }
  return *matches.front();
}

std::vector<PackageFile> kernel_header_packages(std::string_view release, PackageSource& source,
                                                const std::optional<HeadersArchitectures>& architectures) {
  std::vector<PackageFile> packages;
  std::vector<Dependency> pending{
      {fmt::format("linux-headers-{}", release), "", "", architectures ? architectures->target : ""}};
  std::set<std::string> seen{pending.front().package};
  while (!pending.empty()) {
    const Dependency next = pending.front();
    pending.erase(pending.begin());
    PackageFile package = source.get(next);
    for (auto& dependency : parse_depends(package.control.field("Depends"), package.file.string())) {
      if (is_headers_tree_package(dependency.package) && seen.insert(dependency.package).second) {
        if (architectures) dependency.architecture = architectures->build;
        pending.push_back(std::move(dependency));
      }
    }
    packages.push_back(std::move(package));
  }
  return packages;
}

}  // namespace ckms::images
