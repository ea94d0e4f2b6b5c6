#include "sandbox_seccomp.hpp"

#include <sched.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

namespace ckms::builder {
namespace {

using nlohmann::json;

// Refused with EPERM whatever their arguments. The list follows Docker's default profile
// (moby profiles/seccomp/default.json) and Podman's (containers/common
// pkg/seccomp/seccomp.json): what they allow only with a capability the sandbox lacks,
// what they never allow, and a few they allow that a build has no use for (ptrace,
// process_vm_*, io_uring). runc skips names the architecture does not have.
const char* const kDenied[] = {
    // Namespaces: joining one; creating them is filtered by flags below.
    "setns",
    // Mounts, old and new API, and changing the root.
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    // The kernel keyring.
    "add_key",
    "keyctl",
    "request_key",
    // eBPF and performance counters.
    "bpf",
    "perf_event_open",
    // Other processes' memory.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "kcmp",
    // Kernel modules and kernel replacement.
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "get_kernel_syms",
    "kexec_load",
    "kexec_file_load",
    // Memory tricks behind many exploits, and io_uring, which bypasses this filter.
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    // File handles name files outside every mount.
    "open_by_handle_at",
    "name_to_handle_at",
    // Host-wide state.
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "quotactl",
    "quotactl_fd",
    "lookup_dcookie",
    "fanotify_init",
    "settimeofday",
    "clock_settime",
    "clock_settime64",
    "stime",
    "sethostname",
    "setdomainname",
    "vhangup",
    "ioperm",
    "iopl",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "vm86",
    "vm86old",
    "bdflush",
};

// Every namespace flag: unshare(2) and clone(2) with any of them are refused, while plain
// fork, threads (clone without these flags) and unshare of files or fs still work.
constexpr std::uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
                                             CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, 0x80 /* CLONE_NEWTIME */};

json flag_rule(const char* syscall, std::uint64_t flag) {
  // SCMP_CMP_MASKED_EQ: (argument & value) == valueTwo.
  return {{"names", {syscall}},
          {"action", "SCMP_ACT_ERRNO"},
          {"errnoRet", EPERM},
          {"args", {{{"index", 0}, {"value", flag}, {"valueTwo", flag}, {"op", "SCMP_CMP_MASKED_EQ"}}}}};
}

// The native architecture and the compat ones its kernel also runs, so a 32-bit syscall
// cannot go around the filter.
json architectures() {
#if defined(__x86_64__)
  return {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
#elif defined(__aarch64__)
  return {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
#else
  return json::array();  // runc then filters the native architecture only
#endif
}

}  // namespace

json seccomp_profile() {
  json syscalls = json::array();
  syscalls.push_back({{"names", std::vector<std::string>(std::begin(kDenied), std::end(kDenied))},
                      {"action", "SCMP_ACT_ERRNO"},
                      {"errnoRet", EPERM}});
  // clone3 passes its flags in a struct the filter cannot read, so it is refused as
  // unknown: glibc then falls back to clone, whose flags are checked (Docker and Podman
  // do the same).
  syscalls.push_back({{"names", {"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", ENOSYS}});
  for (const std::uint64_t flag : kNamespaceFlags) {
    syscalls.push_back(flag_rule("unshare", flag));
    // CLONE_NEWTIME shares its bit with the exit signal in clone's flags.
    if (flag != 0x80) syscalls.push_back(flag_rule("clone", flag));
  }
  return {{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", architectures()}, {"syscalls", syscalls}};
}

}  // namespace ckms::builder
