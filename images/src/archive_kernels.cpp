#include "ckms/images/archive_kernels.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <vector>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/images/deb.hpp"
#include "ckms/images/decompress.hpp"

namespace ckms::images {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kImagePrefix = "linux-image-";
constexpr std::string_view kHeadersPrefix = "linux-headers-";
constexpr std::string_view kPackageField = "Package: ";

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

bool is_kernel_package(std::string_view name) {
  return name.starts_with(kImagePrefix) || name.starts_with(kHeadersPrefix);
}

// Calls `line` for every line of `reader`, holding one chunk and one partial line at a time:
// a Packages index of the main archive is tens of megabytes.
template <typename LineFn>
void for_each_line(Reader& reader, LineFn line) {
  std::vector<std::byte> chunk(kCopyBufferSize);
  std::string pending;
  for (std::size_t n = reader.read(chunk); n != 0; n = reader.read(chunk)) {
    pending.append(reinterpret_cast<const char*>(chunk.data()), n);
    std::size_t start = 0;
    for (std::size_t end = pending.find('\n'); end != std::string::npos; end = pending.find('\n', start)) {
      line(std::string_view(pending).substr(start, end - start));
      start = end + 1;
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) line(pending);
}

void read_packages_index(const fs::path& file, std::set<std::string>& names) {
  FileReader compressed(file);
  const auto reader = decompressing(compressed, file.string());
  for_each_line(*reader, [&names](std::string_view line) {
    if (!line.starts_with(kPackageField)) return;
    const std::string_view name = line.substr(kPackageField.size());
    if (is_kernel_package(name)) names.emplace(name);
  });
}

// apt's index files: <source>_Packages, or with the compression apt keeps them in
// (Acquire::GzipIndexes, lz4 on Debian's images) as an extension.
bool is_packages_index(const fs::directory_entry& entry) {
  const std::string name = entry.path().filename().string();
  return entry.is_regular_file() && (name.ends_with("_Packages") || name.find("_Packages.") != std::string::npos);
}

}  // namespace

std::string kernel_flavour(std::string_view release) {
  if (release.empty() || !is_digit(release.front())) return "";
  const std::size_t version_end = release.find('-');
  if (version_end == std::string_view::npos) return "";
  std::string_view rest = release.substr(version_end + 1);
  // Debian's bookworm and older put an ABI number between the version and the flavour.
  const std::size_t abi_end = rest.find('-');
  if (abi_end != std::string_view::npos && abi_end > 0 &&
      std::all_of(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(abi_end), is_digit)) {
    rest.remove_prefix(abi_end + 1);
  }
  return std::string(rest);
}

std::optional<std::string> image_package_release(std::string_view package) {
  if (!package.starts_with(kImagePrefix)) return std::nullopt;
  std::string_view release = package.substr(kImagePrefix.size());
  if (release.ends_with("-dbg")) return std::nullopt;
  if (release.ends_with("-unsigned")) release.remove_suffix(std::string_view("-unsigned").size());
  if (kernel_flavour(release).empty()) return std::nullopt;
  return std::string(release);
}

std::vector<ArchiveKernel> archive_kernels(const std::vector<std::string>& package_names,
                                           const std::vector<std::string>& flavours) {
  const std::set<std::string> names(package_names.begin(), package_names.end());
  std::map<std::string, ArchiveKernel> kernels;
  for (const auto& name : names) {
    const auto release = image_package_release(name);
    if (!release) continue;
    std::string flavour = kernel_flavour(*release);
    if (!flavours.empty() && std::find(flavours.begin(), flavours.end(), flavour) == flavours.end()) continue;
    const bool headers = names.contains(std::string(kHeadersPrefix) + *release);
    kernels.try_emplace(*release,
                        ArchiveKernel{.release = *release, .flavour = std::move(flavour), .headers = headers});
  }
  std::vector<ArchiveKernel> sorted;
  for (auto& [release, kernel] : kernels) sorted.push_back(std::move(kernel));
  return sorted;
}

std::vector<std::string> apt_list_kernel_packages(const fs::path& lists_dir) {
  if (!fs::is_directory(lists_dir)) {
    fail(ErrorKind::not_found, "{}: no apt lists directory (run apt-get update, or name .deb files with --debs)",
         lists_dir.string());
  }
  std::set<std::string> names;
  int indexes = 0;
  for (const auto& entry : fs::directory_iterator(lists_dir)) {
    if (!is_packages_index(entry)) continue;
    read_packages_index(entry.path(), names);
    ++indexes;
  }
  if (indexes == 0) {
    fail(ErrorKind::not_found, "{}: no Packages index (run apt-get update, or name .deb files with --debs)",
         lists_dir.string());
  }
  return {names.begin(), names.end()};
}

std::vector<std::string> deb_directory_kernel_packages(const fs::path& directory) {
  if (!fs::is_directory(directory))
    fail(ErrorKind::not_found, "{}: no such directory of .deb files", directory.string());
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) {
    if (entry.path().extension() != ".deb" || !entry.is_regular_file()) continue;
    const std::string name = read_deb_control(entry.path()).package();
    if (is_kernel_package(name)) names.insert(name);
  }
  return {names.begin(), names.end()};
}

}  // namespace ckms::images
