#include "ckms/oci/layer_whiteout.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "ckms/base/error.hpp"

namespace ckms::oci {

namespace {

constexpr std::string_view kPrefix = ".wh.";
constexpr std::string_view kMetaPrefix = ".wh..wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";

std::string join(std::string_view parent, std::string_view name) {
  if (parent.empty()) return std::string(name);
  std::string out(parent);
  out.push_back('/');
  out.append(name);
  return out;
}

std::vector<std::string> list_names(int dirfd, std::string_view what) {
  const int listing_fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing_fd < 0) fail_errno(fmt::format("{}: cannot list a directory", what));
  DIR* dir = ::fdopendir(listing_fd);
  if (dir == nullptr) {
    ::close(listing_fd);
    fail_errno(fmt::format("{}: cannot list a directory", what));
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(dir);
  return names;
}

void clear_lower(int dirfd, const std::string& directory, const LayerAdditions& additions, std::string_view what) {
  for (const std::string& name : list_names(dirfd, what)) {
    const std::string child = join(directory, name);
    if (!additions.contains(child)) {
      remove_tree_at(dirfd, name, what);
      continue;
    }
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) {
      continue;
    }
    UniqueFd child_fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child_fd) fail_errno(fmt::format("{}: cannot open '{}'", what, child));
    clear_lower(child_fd.get(), child, additions, what);
  }
}

}  // namespace

Whiteout classify_whiteout(std::string_view base, std::string_view what) {
  if (!base.starts_with(kPrefix)) return {};
  if (base == kOpaque) return {WhiteoutKind::opaque, {}};
  if (base.starts_with(kMetaPrefix)) return {WhiteoutKind::unsupported, {}};
  const std::string_view target = base.substr(kPrefix.size());
  if (target.empty() || target == "." || target == "..") {
    fail(ErrorKind::refused, "{}: whiteout names '{}', which is not a file name", what, target);
  }
  return {WhiteoutKind::remove, std::string(target)};
}

void apply_whiteout(int parent_fd, std::string_view parent, const std::string& name, const LayerAdditions& additions,
                    std::string_view what) {
  if (additions.contains(join(parent, name))) return;
  remove_tree_at(parent_fd, name, what);
}

void apply_opaque(BeneathRoot& root, std::string_view directory, const LayerAdditions& additions,
                  std::string_view what) {
  root.open_directory(directory, true, what);
  const UniqueFd fd = root.open_directory_readable(directory, false, what);
  clear_lower(fd.get(), std::string(directory), additions, what);
}

}  // namespace ckms::oci
