// config.json for runc 1.1.5. The base is what `runc spec` (and `runc spec --rootless`)
// writes, so masked and read-only paths, capabilities and devices stay runc's defaults;
// on top: a user and a network namespace in both modes, a read-only root, a private /tmp,
// a seccomp filter (sandbox_seccomp.hpp).

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "ckms/base/error.hpp"
#include "ckms/builder/sandbox_bundle.hpp"
#include "sandbox_seccomp.hpp"

namespace ckms::builder {
namespace {

using nlohmann::json;

json mapping_json(const std::vector<IdMapping>& mappings) {
  json out = json::array();
  for (const auto& m : mappings)
    out.push_back({{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}});
  return out;
}

json default_capabilities() {
  const json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  return {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}};
}

json system_mounts(const SandboxSpec& spec, bool rootless) {
  json devpts_options = {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"};
  // gid 5 (tty) is unmapped with a single-id rootless mapping; runc's rootless spec drops it.
  if (!rootless) devpts_options.push_back("gid=5");
  // Rootless cannot mount a fresh sysfs for a network namespace it does not own on every
  // kernel; runc's rootless spec binds the host's read-only instead.
  const json sys = rootless ? json{{"destination", "/sys"},
                                   {"type", "none"},
                                   {"source", "/sys"},
                                   {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}}
                            : json{{"destination", "/sys"},
                                   {"type", "sysfs"},
                                   {"source", "sysfs"},
                                   {"options", {"nosuid", "noexec", "nodev", "ro"}}};
  return json::array({
      {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"}, {"options", devpts_options}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/dev/mqueue"},
       {"type", "mqueue"},
       {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      sys,
      {{"destination", "/sys/fs/cgroup"},
       {"type", "cgroup"},
       {"source", "cgroup"},
       {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}},
      // gcc writes its temporaries here; the image's own /tmp is read-only.
      {{"destination", "/tmp"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "nodev", "mode=1777", "size=" + std::to_string(spec.tmp_size_bytes)}}},
  });
}

// runc cannot create a mount point in a read-only root, and a missing one would only show
// up as an obscure runc error at start.
void check_destination(const SandboxSpec& spec, const std::string& destination) {
  const std::filesystem::path dest(destination);
  if (!dest.is_absolute() || destination.find("..") != std::string::npos)
    fail(ErrorKind::usage, "sandbox mount destination {} must be an absolute path without '..'", destination);
  std::error_code ec;
  // symlink_status: a link in the image would resolve against the host here.
  const auto status = std::filesystem::symlink_status(spec.rootfs / dest.relative_path(), ec);
  if (ec || status.type() != std::filesystem::file_type::directory)
    fail(ErrorKind::usage,
         "sandbox mount destination {} is not a directory in the build image {} "
         "(the image is read-only, so mount points must exist in it)",
         destination, spec.rootfs.string());
}

json resources(const SandboxSpec& spec) {
  json out = {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}};
  if (spec.memory_limit_bytes) out["memory"] = {{"limit", *spec.memory_limit_bytes}};
  if (spec.pids_limit) out["pids"] = {{"limit", *spec.pids_limit}};
  return out;
}

// Makes container root the owner of what the build may write. Only rootful needs this:
// rootless container root already is the owner.
void chown_tree(const std::filesystem::path& root, uid_t uid, gid_t gid) {
  auto own = [&](const std::filesystem::path& p) {
    if (::lchown(p.c_str(), uid, gid) != 0) fail_errno("chown " + p.string());
  };
  own(root);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) own(entry.path());
}

}  // namespace

json bundle_config(const SandboxSpec& spec, const UserMappings& mappings) {
  const bool rootless = effective_mode(spec) == SandboxMode::rootless;
  if (spec.argv.empty()) fail(ErrorKind::usage, "sandbox: no command to run");
  if (!spec.rootfs.is_absolute())
    fail(ErrorKind::usage, "sandbox rootfs {} must be an absolute path", spec.rootfs.string());
  if (rootless && (spec.cgroups_path || spec.memory_limit_bytes || spec.pids_limit))
    fail(ErrorKind::usage,
         "sandbox: cgroup limits need a rootful runtime (setting them rootless is refused by "
         "the kernel)");

  json rlimits = json::array();
  for (const auto& r : spec.rlimits) rlimits.push_back({{"type", r.type}, {"soft", r.soft}, {"hard", r.hard}});

  json mounts = system_mounts(spec, rootless);
  for (const auto& m : spec.mounts) {
    check_destination(spec, m.destination);
    mounts.push_back({{"destination", m.destination},
                      {"type", "bind"},
                      {"source", std::filesystem::absolute(m.source).string()},
                      {"options", {"rbind", "nosuid", "nodev", m.writable ? "rw" : "ro"}}});
  }
  for (const auto& t : spec.tmpfs) {
    check_destination(spec, t.destination);
    mounts.push_back({{"destination", t.destination},
                      {"type", "tmpfs"},
                      {"source", "tmpfs"},
                      {"options", {"nosuid", "nodev", "mode=0755", "size=" + std::to_string(t.size_bytes)}}});
  }

  json linux_section = {
      {"namespaces",
       {{{"type", "pid"}},
        {{"type", "ipc"}},
        {{"type", "uts"}},
        {{"type", "mount"}},
        {{"type", "user"}},
        // A fresh network namespace holds only `lo`: no route out of the sandbox.
        {{"type", "network"}}}},
      {"uidMappings", mapping_json(mappings.uids)},
      {"gidMappings", mapping_json(mappings.gids)},
      {"maskedPaths",
       {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
      {"seccomp", seccomp_profile()},
  };
  if (!rootless) {
    linux_section["resources"] = resources(spec);
    if (spec.cgroups_path) linux_section["cgroupsPath"] = *spec.cgroups_path;
  }

  return {
      {"ociVersion", "1.0.2-dev"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", spec.argv},
        {"env", spec.env},
        {"cwd", spec.cwd},
        {"capabilities", default_capabilities()},
        {"rlimits", rlimits},
        {"noNewPrivileges", true}}},
      {"root", {{"path", spec.rootfs.string()}, {"readonly", true}}},
      {"hostname", spec.hostname},
      {"mounts", mounts},
      {"linux", linux_section},
  };
}

void write_bundle(const SandboxSpec& spec, const std::filesystem::path& bundle_dir) {
  const UserMappings mappings = user_mappings(spec);
  const json config = bundle_config(spec, mappings);
  if (effective_mode(spec) == SandboxMode::rootful) {
    const IdMapping& root = spec.rootful_mapping;
    for (const auto& m : spec.mounts) chown_tree(m.source, root.host_id, root.host_id);
  }
  std::filesystem::create_directories(bundle_dir);
  const auto file = bundle_dir / "config.json";
  std::ofstream out(file, std::ios::trunc);
  out << config.dump(2) << '\n';
  out.close();
  if (!out) fail(ErrorKind::io, "cannot write the sandbox bundle {}", file.string());
}

}  // namespace ckms::builder
