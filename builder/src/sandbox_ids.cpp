// Which user namespace a sandbox gets. Rootful: a fixed unprivileged host range, so that
// nothing in the container is host root. Rootless: the invoking user is container root,
// and its subordinate ranges give the build the ordinary uids a Debian image expects.

#include <fstream>
#include <optional>
#include <string>

#include <pwd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ckms/base/error.hpp"
#include "ckms/base/process.hpp"
#include "ckms/builder/sandbox_bundle.hpp"
#include "ckms/builder/sandbox_run.hpp"

namespace ckms::builder {
namespace {

// The first range for `uid` (by name or number) in an /etc/subuid-style file.
std::optional<IdMapping> subordinate_range(const std::filesystem::path& file, uid_t uid) {
  std::string name;
  if (const passwd* entry = ::getpwuid(uid)) name = entry->pw_name;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find(':');
    const auto second = line.find(':', first == std::string::npos ? first : first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string owner = line.substr(0, first);
    if (owner != name && owner != std::to_string(uid)) continue;
    try {
      const unsigned long start = std::stoul(line.substr(first + 1, second - first - 1));
      const unsigned long count = std::stoul(line.substr(second + 1));
      if (count == 0) continue;
      return IdMapping{1, static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(count)};
    } catch (const std::exception&) {
      continue;  // a malformed line is not ours to judge; the next one may match
    }
  }
  return std::nullopt;
}

bool have_newidmap() { return find_program("newuidmap") && find_program("newgidmap"); }

}  // namespace

SandboxMode effective_mode(const SandboxSpec& spec) {
  if (spec.mode != SandboxMode::automatic) return spec.mode;
  return ::geteuid() == 0 ? SandboxMode::rootful : SandboxMode::rootless;
}

UserMappings user_mappings(const SandboxSpec& spec) {
  if (effective_mode(spec) == SandboxMode::rootful) {
    if (spec.rootful_mapping.size == 0) fail(ErrorKind::usage, "sandbox: the rootful uid/gid mapping has size 0");
    return {{spec.rootful_mapping}, {spec.rootful_mapping}};
  }
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  UserMappings mappings{{{0, uid, 1}}, {{0, gid, 1}}};
  // runc sets up more than one range only through newuidmap/newgidmap, and both files
  // must name the user, or the uid and gid views would disagree.
  const auto subuid = subordinate_range("/etc/subuid", uid);
  const auto subgid = subordinate_range("/etc/subgid", uid);
  if (subuid && subgid && have_newidmap()) {
    mappings.uids.push_back(*subuid);
    mappings.gids.push_back(*subgid);
  }
  return mappings;
}

std::optional<gid_t> rootfs_traverse_group(const SandboxSpec& spec) {
  if (effective_mode(spec) != SandboxMode::rootful) return std::nullopt;
  return static_cast<gid_t>(user_mappings(spec).gids.front().host_id);
}

std::optional<std::filesystem::path> untraversable_directory(const std::filesystem::path& dir, uid_t uid, gid_t gid) {
  std::filesystem::path at;
  for (const auto& part : std::filesystem::absolute(dir).lexically_normal()) {
    at /= part;
    struct stat st {};
    if (::stat(at.c_str(), &st) != 0) return std::nullopt;  // made later, by ckms, with its own modes
    if (!S_ISDIR(st.st_mode)) return std::nullopt;
    const bool through = st.st_uid == uid   ? (st.st_mode & S_IXUSR) != 0
                         : st.st_gid == gid ? (st.st_mode & S_IXGRP) != 0
                                            : (st.st_mode & S_IXOTH) != 0;
    // With an ACL the group bits are its mask: an entry for the uid may let it through.
    const bool acl = ::getxattr(at.c_str(), "system.posix_acl_access", nullptr, 0) > 0 && (st.st_mode & S_IXGRP) != 0;
    if (!through && !acl) return at;
  }
  return std::nullopt;
}

void require_sandbox_traversal(const SandboxSpec& spec, const std::filesystem::path& dir, std::string_view what) {
  if (effective_mode(spec) != SandboxMode::rootful) return;
  const uid_t uid = static_cast<uid_t>(user_mappings(spec).uids.front().host_id);
  const gid_t gid = static_cast<gid_t>(user_mappings(spec).gids.front().host_id);
  if (const auto blocked = untraversable_directory(dir, uid, gid)) {
    fail(ErrorKind::usage,
         "{} {}: the build sandbox's root (host uid {}) cannot pass through {}; choose a {} it can reach, or let "
         "that uid through with `setfacl -m u:{}:x {}`",
         what, dir.string(), uid, blocked->string(), what, uid, blocked->string());
  }
}

}  // namespace ckms::builder
