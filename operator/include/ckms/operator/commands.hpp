#pragma once
// Every `ckms` command line the operator puts into a pod, and the paths inside those pods
// that the command lines and the pod specs share. Kept in this one file so that they are
// easy to align with docs/cli.md when `ckms build`/`load`/`unload` change.

#include <string>
#include <string_view>
#include <vector>

#include "ckms/operator/kernel_module.hpp"

namespace ckms::op {

namespace pod_path {
// The init container copies the ckms image's /opt/ckms (the binary, the shared libraries
// it was linked against and the loader they need) into an emptyDir mounted here, so ckms
// runs inside any kernel build image whatever libraries that image has.
inline constexpr std::string_view ckms_home = "/opt/ckms";
inline constexpr std::string_view ckms = "/opt/ckms/bin/ckms";
// Build images have no CA bundle of their own; the ckms image brings Debian's.
inline constexpr std::string_view ca_bundle = "/opt/ckms/etc/ca-certificates.crt";
inline constexpr std::string_view source = "/work/src";             // the module source tree
inline constexpr std::string_view build_cache = "/tmp/ckms-cache";  // on the pod's /tmp emptyDir
inline constexpr std::string_view signing = "/etc/ckms/signing";    // tls.key, tls.crt
inline constexpr std::string_view trust = "/etc/ckms/trust";
inline constexpr std::string_view auth = "/etc/ckms/auth";  // .dockerconfigjson
// The loader's defaults, mounted from the host: its artifact cache, and the record of what
// it loaded (on the host's /run, so it is forgotten exactly when the kernel forgets).
inline constexpr std::string_view cache = "/var/lib/ckms";
inline constexpr std::string_view state = "/run/ckms";
inline constexpr std::string_view ready_marker = "/run/ckms-loaded";
}  // namespace pod_path

// `ckms build` for one kernel, run in place (--runtime none) inside that kernel's build
// image, publishing to the module repository.
std::vector<std::string> build_command(const KernelModuleSpec& spec, std::string_view release);

// `ckms load REPO:VERSION`: the loader picks the entry for the running kernel itself.
std::vector<std::string> load_command(const KernelModuleSpec& spec);

// `ckms unload NAME`, run when a loader pod stops.
std::vector<std::string> unload_command(const KernelModuleSpec& spec);

// The loader container's command: remove the in-tree modules named in
// CKMS_REMOVE_IN_TREE, run `load` (given as "$@", never re-quoted), mark readiness, then
// wait for SIGTERM.
std::vector<std::string> loader_entrypoint(const std::vector<std::string>& load);

}  // namespace ckms::op
