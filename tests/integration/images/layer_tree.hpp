#pragma once
// A directory tree described entry by entry (type, mode, content digest or link target, and
// optionally mtime and owner), so two trees compare with one ==, and a mismatch prints the
// entries that differ.

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <map>
#include <string>

#include <fmt/format.h>

#include "ckms/base/digest.hpp"

namespace ckms::testing {

struct TreeOptions {
  bool mtimes = true;  // of files and symlinks; directory mtimes move with later writes
  bool owners = false;
};

using Tree = std::map<std::string, std::string>;

inline Tree describe_tree(const std::filesystem::path& root, TreeOptions options = {}) {
  Tree tree;
  for (auto it = std::filesystem::recursive_directory_iterator(root);
       it != std::filesystem::recursive_directory_iterator(); ++it) {
    const std::filesystem::path& path = it->path();
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) throw std::runtime_error("lstat " + path.string());
    std::string text = fmt::format("{:o}", st.st_mode);
    if (S_ISREG(st.st_mode)) {
      text += " " + ckms::digest_of_file(path).hex().substr(0, 16);
    } else if (S_ISLNK(st.st_mode)) {
      text += " -> " + std::filesystem::read_symlink(path).string();
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      text += fmt::format(" dev {}:{}", major(st.st_rdev), minor(st.st_rdev));
    }
    if (options.mtimes && !S_ISDIR(st.st_mode)) text += fmt::format(" t{}", st.st_mtime);
    if (options.owners) text += fmt::format(" {}:{}", st.st_uid, st.st_gid);
    tree[path.lexically_relative(root).string()] = text;
  }
  return tree;
}

// The entries on which two trees differ, one per line, for a readable failure message.
inline std::string tree_difference(const Tree& a, const Tree& b) {
  std::string out;
  for (const auto& [path, text] : a) {
    const auto other = b.find(path);
    if (other == b.end())
      out += fmt::format("only in first: {} {}\n", path, text);
    else if (other->second != text)
      out += fmt::format("differs: {}: {} vs {}\n", path, text, other->second);
  }
  for (const auto& [path, text] : b) {
    if (!a.contains(path)) out += fmt::format("only in second: {} {}\n", path, text);
  }
  return out;
}

}  // namespace ckms::testing
