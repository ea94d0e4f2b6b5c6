#include "sandbox_seccomp.hpp"

#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

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
constexpr std::uint64_t kNewTime = 0x80;  // CLONE_NEWTIME, missing from older headers
constexpr std::uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
                                             CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, kNewTime};

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

using SeccompContext = std::unique_ptr<void, decltype(&seccomp_release)>;

void check_seccomp(int rc, std::string_view what) {
  if (rc < 0) fail(ErrorKind::internal, "libseccomp: {}: {}", what, std::strerror(-rc));
}

// The architectures of architectures() in libseccomp's terms; the native one is in every
// new context already.
void add_compat_architectures(scmp_filter_ctx ctx) {
#if defined(__x86_64__)
  for (const std::uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) check_seccomp(seccomp_arch_add(ctx, arch), "arch");
#elif defined(__aarch64__)
  check_seccomp(seccomp_arch_add(ctx, SCMP_ARCH_ARM), "arch");
#else
  (void)ctx;
#endif
}

void add_flag_rule(scmp_filter_ctx ctx, int syscall, std::uint64_t flag) {
  check_seccomp(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), syscall, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)),
                "namespace flag rule");
}

// libseccomp writes the program to a file descriptor only (2.5 has no in-memory export).
std::vector<sock_filter> export_program(scmp_filter_ctx ctx) {
  const ckms::UniqueFd memory(::memfd_create("ckms-seccomp", MFD_CLOEXEC));
  if (!memory) fail_errno("memfd_create for the seccomp filter");
  check_seccomp(seccomp_export_bpf(ctx, memory.get()), "export");
  const off_t size = ::lseek(memory.get(), 0, SEEK_CUR);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0)
    fail(ErrorKind::internal, "libseccomp exported a filter of {} bytes", static_cast<long long>(size));
  std::vector<sock_filter> program(static_cast<std::size_t>(size) / sizeof(sock_filter));
  if (::pread(memory.get(), program.data(), static_cast<std::size_t>(size), 0) != size)
    fail_errno("read back the seccomp filter");
  return program;
}

}  // namespace

std::vector<sock_filter> seccomp_program() {
  SeccompContext ctx(seccomp_init(SCMP_ACT_ALLOW), seccomp_release);
  if (!ctx) fail(ErrorKind::internal, "libseccomp: cannot create a filter");
  add_compat_architectures(ctx.get());
  for (const char* name : kDenied) {
    const int syscall = seccomp_syscall_resolve_name(name);
    if (syscall == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp, as runc skips it
    check_seccomp(seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), syscall, 0), name);
  }
  check_seccomp(seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");
  for (const std::uint64_t flag : kNamespaceFlags) {
    add_flag_rule(ctx.get(), SCMP_SYS(unshare), flag);
    if (flag != kNewTime) add_flag_rule(ctx.get(), SCMP_SYS(clone), flag);
  }
  return export_program(ctx.get());
}

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
    if (flag != kNewTime) syscalls.push_back(flag_rule("clone", flag));
  }
  return {{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", architectures()}, {"syscalls", syscalls}};
}

}  // namespace ckms::builder
