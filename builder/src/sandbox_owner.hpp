#pragma once
// Which ckms process a container belongs to, so that a later run can stop the containers of
// a ckms that died (kill -9, the OOM killer, a node pod evicted): `runc run` outlives its
// parent, and nobody else would enforce the dead run's time limit. Every container in a
// shared state root has an owner file that its ckms holds flock'd for as long as it lives.
// The kernel drops the lock when the process dies, however it dies, so a lock that can be
// taken means a dead owner. Unlike a recorded pid this survives pid reuse, and pid
// namespaces that share one cache dir.
//
//   <state root>/runc/<id>/     runc's own state (--root)
//   <state root>/owners/<id>    the owner file, created (locked) before the container

#include <filesystem>
#include <string>
#include <vector>

#include "ckms/base/io.hpp"

namespace ckms::builder {

struct SandboxStateRoot {
  explicit SandboxStateRoot(const std::filesystem::path& root) : runc(root / "runc"), owners(root / "owners") {}
  std::filesystem::path runc, owners;
};

// Holds the owner lock of container `id` from before the container exists until after it
// is deleted. Created under a temporary name and renamed once locked, so a reaper never
// sees an owner file that is not locked yet.
class SandboxOwner {
 public:
  SandboxOwner(const SandboxStateRoot& root, const std::string& id);
  ~SandboxOwner();
  SandboxOwner(const SandboxOwner&) = delete;
  SandboxOwner& operator=(const SandboxOwner&) = delete;

 private:
  std::filesystem::path file_;
  ckms::UniqueFd fd_;
};

// Kills and deletes (`runc delete --force`) every container under `root` whose owner file
// can be locked, and removes those owner files (also the ones whose owner died before or
// after its container existed). A container whose deletion fails keeps its owner file, so
// the next run tries again. `runc` is the runtime with its --root arguments; what runc prints goes
// to `log_fd`. Returns the ids of the containers stopped.
std::vector<std::string> reap_stale_sandboxes(const std::vector<std::string>& runc, const SandboxStateRoot& root,
                                              int log_fd);

}  // namespace ckms::builder
