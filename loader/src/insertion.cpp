#include "insertion.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ckms/base/error.hpp"
#include "ckms/kmod/compress.hpp"

namespace ckms::loader::detail {

Insertion::~Insertion() { rollback(); }

void Insertion::insert(const ModuleImage& image, const std::string& parameters) {
  try {
    kernel_.insert(image, parameters);
  } catch (const Error& e) {
    const std::string undone = rollback();
    fail(e.kind(), "{}{}", e.what(), undone.empty() ? "" : "; " + undone);
  }
  inserted_.push_back(image.name);
}

std::string Insertion::rollback() noexcept {
  if (inserted_.empty()) return {};
  std::vector<std::string> removed;
  std::vector<std::string> failed;
  for (auto it = inserted_.rbegin(); it != inserted_.rend(); ++it) {
    try {
      kernel_.remove(*it);
      removed.push_back(*it);
    } catch (const std::exception& e) {
      failed.push_back(e.what());
    }
  }
  inserted_.clear();
  try {
    std::string out = fmt::format("rolled back: removed {}",
                                  removed.empty() ? "nothing" : fmt::format("{}", fmt::join(removed, ", ")));
    if (!failed.empty()) out += fmt::format("; could not remove: {}", fmt::join(failed, "; "));
    return out;
  } catch (...) {
    return "rolled back";
  }
}

ModuleImage in_tree_image(const std::string& name, const std::filesystem::path& path) {
  ModuleImage image{.name = name, .what = path.string()};
  image.file = ckms::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!image.file) fail_errno("cannot open " + path.string());
  char head[8] = {};
  const ssize_t n = ::pread(image.file.get(), head, sizeof head, 0);
  if (n < 0) fail_errno("cannot read " + path.string());
  const auto compression = kmod::detect_compression(std::string_view(head, static_cast<std::size_t>(n)));
  if (compression != kmod::Compression::none) {
    image.bytes = kmod::decompress(ckms::read_file(path, kmod::kDefaultDecompressLimit), compression,
                                   kmod::kDefaultDecompressLimit, path.string());
    image.file = ckms::UniqueFd();
  }
  return image;
}

}  // namespace ckms::loader::detail
