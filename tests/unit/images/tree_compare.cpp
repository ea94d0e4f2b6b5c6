#include "tree_compare.hpp"

#include <map>

#include <fmt/format.h>

#include "ckms/base/digest.hpp"

namespace ckms::testing {
namespace fs = std::filesystem;

namespace {

std::map<std::string, std::string> describe_tree(const fs::path& root) {
  std::map<std::string, std::string> entries;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const auto status = it->symlink_status();
    const std::string path = fs::relative(it->path(), root).string();
    const auto perms = static_cast<unsigned>(status.permissions()) & 07777;
    if (fs::is_symlink(status)) {
      entries[path] = "symlink -> " + fs::read_symlink(it->path()).string();
    } else if (fs::is_directory(status)) {
      entries[path] = fmt::format("dir {:o}", perms);
    } else if (fs::is_regular_file(status)) {
      entries[path] = fmt::format("file {:o} {}", perms, ckms::digest_of_file(it->path()).str());
    } else {
      entries[path] = "other";
    }
  }
  return entries;
}

}  // namespace

std::vector<std::string> compare_trees(const fs::path& expected, const fs::path& actual) {
  const auto want = describe_tree(expected);
  const auto got = describe_tree(actual);
  std::vector<std::string> differences;
  for (const auto& [path, description] : want) {
    const auto it = got.find(path);
    if (it == got.end()) {
      differences.push_back(fmt::format("missing {} ({})", path, description));
    } else if (it->second != description) {
      differences.push_back(fmt::format("{}: expected {}, got {}", path, description, it->second));
    }
  }
  for (const auto& [path, description] : got) {
    if (!want.contains(path)) differences.push_back(fmt::format("extra {} ({})", path, description));
  }
  return differences;
}

}  // namespace ckms::testing
