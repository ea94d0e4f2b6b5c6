#pragma once
// What a sandboxed build gets: a read-only build image root, a few writable bind mounts
// (the source copy, the output dir), a private /tmp, no network, rlimits and a time limit.
// One spec drives both ways of running it: an OCI runtime (runc) bundle, or in place when
// ckms already runs inside a pod that is the build image.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ckms::builder {

// The build image is shared between builds and mounted read-only, and runc 1.1.5 cannot
// create mount points in a read-only root, so mounts may only target directories that
// already exist in the image. ckms build images carry empty /src and /out for this.
inline constexpr const char* kSandboxSourceDir = "/src";
inline constexpr const char* kSandboxOutputDir = "/out";

// Sources are directories ckms made: in rootful mode they are chowned to container root,
// so that it can read them whatever modes they were copied with.
struct SandboxMount {
  std::filesystem::path source;  // host directory
  std::string destination;       // absolute, must exist in the rootfs
  bool writable = false;
};

// A tmpfs the build writes into instead of a host directory: bounded, counted in the
// memory limit, and gone with the container.
struct SandboxTmpfs {
  std::string destination;  // absolute, must exist in the rootfs
  std::uint64_t size_bytes = 0;
};

// A process rlimit as runc names it (RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_AS, RLIMIT_CPU, ...).
struct SandboxRlimit {
  std::string type;
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
};

struct IdMapping {
  std::uint32_t container_id = 0;
  std::uint32_t host_id = 0;
  std::uint32_t size = 0;
};

enum class SandboxMode {
  automatic,  // rootful when started as root, else rootless
  rootful,    // container root is an unprivileged host range; cgroup limits allowed
  rootless,   // container root is the invoking user; no cgroups, own runc state dir
};

struct SandboxSpec {
  std::filesystem::path rootfs;  // the build image, mounted read-only
  std::vector<SandboxMount> mounts;
  std::vector<SandboxTmpfs> tmpfs;  // mounted after `mounts`
  std::vector<std::string> argv;
  std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8",
                                  "HOME=/tmp"};
  std::string cwd = "/";
  std::chrono::seconds time_limit{3600};
  // RLIMIT_NPROC counts every process of the host uid the container root maps to, so it
  // is shared by parallel builds (rootful) or with the user's own processes (rootless).
  std::vector<SandboxRlimit> rlimits = {
      {"RLIMIT_NOFILE", 4096, 4096}, {"RLIMIT_NPROC", 4096, 4096}, {"RLIMIT_CORE", 0, 0}};
  std::string hostname = "ckms-build";
  std::uint64_t tmp_size_bytes = 1ULL << 30;  // the private /tmp tmpfs

  SandboxMode mode = SandboxMode::automatic;
  // Rootful only: where container ids 0..size-1 live on the host. Mount sources are
  // chowned to its first id so that container root can read and write them.
  IdMapping rootful_mapping{0, 165536, 65536};
  // Rootful only: the build's own cgroup with optional limits (sandbox_cgroup.hpp); a
  // cgroups_path given here is used only on cgroup v2 hosts.
  std::optional<std::string> cgroups_path;
  std::optional<std::int64_t> memory_limit_bytes;
  std::optional<std::int64_t> pids_limit;

  std::string runtime = "runc";    // program name or path; see detect_runtime()
  std::filesystem::path work_dir;  // bundle (and runtime state without a state root); removed after
  // Runtime state shared by the sandboxes of every ckms run on this machine (one per cache
  // dir), so that a run finds and stops the containers of a ckms that died. Empty: a
  // private state dir under work_dir, which nothing reaps.
  std::filesystem::path state_root;
  std::filesystem::path log_file;  // stdout and stderr of the build; kept
  // What the log keeps of the output; the rest is counted and dropped.
  std::uint64_t log_limit_bytes = 64ULL << 20;
  // The host dir of the run's /out and the most it may hold (0: unchecked). A bind mount
  // cannot be capped as a tmpfs is, so ckms measures it every quarter second while the run
  // goes on, kills a run that is past the limit, and measures it once more at the end.
  std::filesystem::path output_dir;
  std::uint64_t output_limit_bytes = 0;
};

// The mode a spec runs in on this machine (resolves `automatic` by the effective uid).
SandboxMode effective_mode(const SandboxSpec& spec);

struct SandboxResult {
  int exit_code = -1;  // 128+N when killed by signal N
  bool timed_out = false;
  int stopped_by = 0;  // the signal that stopped the run early (stop.hpp), else 0
  // Rootful with cgroup v1: whether the run's peak use reached its memory or pids limit.
  bool memory_limit_reached = false;
  bool pids_limit_reached = false;
  bool output_limit_reached = false;  // the output dir held more than its limit
  std::filesystem::path log_file;
  std::chrono::milliseconds duration{0};
};

}  // namespace ckms::builder
