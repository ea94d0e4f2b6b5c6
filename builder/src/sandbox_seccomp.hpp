#pragma once
// The seccomp filter of the build sandbox, as the `linux.seccomp` of runc's config.json
// (runtime-spec config-linux.md "Seccomp"); runc loads it through libseccomp just before it
// executes the build, after noNewPrivileges.
//
// A deny list on top of runc's default capabilities: the syscalls that container engines
// keep from containers (Docker's default profile, Podman's containers-common
// seccomp.json), of which a module build needs none. Above all no new namespaces: a nested
// user namespace gives full capabilities over a fresh network namespace, and through
// netlink the kernel's netfilter code, where most container escapes of recent years began.

#include <linux/filter.h>

#include <vector>

#include <nlohmann/json.hpp>

namespace ckms::builder {

nlohmann::json seccomp_profile();

// The same filter as a BPF program for seccomp(2), compiled by libseccomp, for a process
// ckms starts itself (in place, `--runtime none`). The child loads it after fork, where
// nothing may allocate, so it is compiled before.
std::vector<sock_filter> seccomp_program();

}  // namespace ckms::builder
