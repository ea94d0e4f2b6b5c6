#pragma once
// Running a SandboxSpec: under an OCI runtime, or in place (`--runtime none`).

#include <filesystem>
#include <optional>
#include <string>

#include "ckms/builder/sandbox.hpp"

namespace ckms::builder {

// The OCI runtime to use: `override_runtime` when given (a name in PATH or a path), else
// runc. crun is not picked by default: it fails on hybrid cgroup hosts where runc works.
// Throws not_found naming what was searched.
std::filesystem::path detect_runtime(const std::optional<std::string>& override_runtime = {});

// Writes a bundle under spec.work_dir, runs `runc run`, kills the container at the time
// limit and always deletes the container state and the bundle. With a spec.state_root it
// first stops the containers there that a dead ckms left running (named in the log).
// The log file (stdout and stderr) is kept. A build that fails is a result, not an error;
// errors are for a sandbox that could not be set up.
SandboxResult run_sandbox(const SandboxSpec& spec);

// Runs spec.argv directly with spec.env, spec.cwd, the rlimits and the time limit, for
// when the current root already is the build image (ckms inside a pod), under the same
// seccomp filter as in runc and with NoNewPrivs. Mounts and namespaces are not applied:
// the caller places the source and output where argv expects.
SandboxResult run_in_place(const SandboxSpec& spec);

}  // namespace ckms::builder
