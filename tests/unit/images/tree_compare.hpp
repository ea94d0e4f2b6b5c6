#pragma once
// Compares two unpacked trees entry by entry: type, permission bits, symlink target and
// file content. Returns one line per difference (empty when equal), for test messages.

#include <filesystem>
#include <string>
#include <vector>

namespace ckms::testing {

std::vector<std::string> compare_trees(const std::filesystem::path& expected, const std::filesystem::path& actual);

}  // namespace ckms::testing
