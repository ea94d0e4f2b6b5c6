#pragma once
// An OCI runtime-spec bundle (config.json, runtime-spec 1.0.2 as runc 1.1.5 reads it) for
// a SandboxSpec: runc's own default spec, hardened and adapted to the mode.

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <optional>

#include "ckms/builder/sandbox.hpp"

namespace ckms::builder {

// The user namespace mappings for a mode: rootful uses spec.rootful_mapping; rootless maps
// container root to the invoking user, plus the user's /etc/subuid and /etc/subgid ranges
// when newuidmap is installed (runc then sets them up through newuidmap/newgidmap).
struct UserMappings {
  std::vector<IdMapping> uids;
  std::vector<IdMapping> gids;
};
UserMappings user_mappings(const SandboxSpec& spec);

// The host group that, besides the owner, must pass through the parents of a sandbox's root
// filesystem (runc mounts it from inside the user namespace): container root's gid when
// rootful; none when rootless, where container root is the invoking user.
std::optional<gid_t> rootfs_traverse_group(const SandboxSpec& spec);

// The first existing directory on the way to `dir` (from / down, `dir` included) that host
// uid `uid` in group `gid` cannot pass through: no x bit for it as owner, group or other,
// and no POSIX ACL that might grant it. Empty when all of them let it through.
std::optional<std::filesystem::path> untraversable_directory(const std::filesystem::path& dir, uid_t uid, gid_t gid);

// Rootful: refuses, before anything starts, a `dir` that container root could not reach,
// naming the directory that stops it and the fix. `what` names the path ("--cache-dir").
void require_sandbox_traversal(const SandboxSpec& spec, const std::filesystem::path& dir, std::string_view what);

// config.json content. Throws usage when a mount destination does not exist as a
// directory in the rootfs, or when cgroup limits are asked for in rootless mode.
nlohmann::json bundle_config(const SandboxSpec& spec, const UserMappings& mappings);

// Writes <bundle_dir>/config.json and, in rootful mode, chowns the mount sources to the
// mapped container root. The rootfs is referenced by absolute path, not copied.
void write_bundle(const SandboxSpec& spec, const std::filesystem::path& bundle_dir);

}  // namespace ckms::builder
