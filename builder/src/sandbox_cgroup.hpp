#pragma once
// The cgroup of one rootful sandbox, owned by ckms: ckms/<container id> in cgroup v1's
// memory and pids hierarchies, with the build's limits on it. runc's own cgroup for the
// container (cgroupsPath ckms/<id>/runc) goes inside, so the limits hold for every process
// of the build and no two builds share one bucket; and the peaks the kernel keeps there
// (memory.max_usage_in_bytes, pids.peak) are still readable after runc has removed its
// cgroup, so ckms can say which limit a failed build ran into. (The failure counters are
// no use: memory.failcnt stays 0 under a memsw limit, and the OOM kill is counted in the
// victim's cgroup, runc's, which is gone.) Rootless runc cannot use cgroups.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ckms::builder {

class BuildCgroup {
 public:
  // Creates the cgroups and writes the limits. Without cgroup v1 memory and pids
  // hierarchies (a cgroup v2 host), holds nothing: the caller gives runc the limits instead.
  BuildCgroup(const std::string& id, std::optional<std::int64_t> memory_bytes, std::optional<std::int64_t> pids);
  ~BuildCgroup();  // removes them; runc's child cgroup must be gone by then
  BuildCgroup(const BuildCgroup&) = delete;
  BuildCgroup& operator=(const BuildCgroup&) = delete;

  bool active() const { return !dirs_.empty(); }
  // The cgroupsPath for runc, below this cgroup.
  std::string runc_path() const;
  // Whether the build's peak use reached the limit.
  bool memory_limit_reached() const;
  bool pids_limit_reached() const;

 private:
  std::string id_;
  std::vector<std::filesystem::path> dirs_;  // memory, then pids
};

// Removes the cgroups of container `id` that a ckms which died left behind.
void remove_build_cgroup(const std::string& id);

}  // namespace ckms::builder
