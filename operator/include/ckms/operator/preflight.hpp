#pragma once
// Preflight for upcoming kernels, as KMM's PreflightValidation: spec.kernels names releases
// to build for before any selected node runs them, so that a node-image upgrade finds its
// artifacts published. For each such release a build Job is made while the registry has
// no tag, and status.preflight says whether the artifact is published, building, failed to
// build or unknown. No loader is made for them; once a node runs the release, it is one of
// the node kernels and the usual path (build Job, then loader) takes over.

#include <map>
#include <string>
#include <vector>

#include "ckms/operator/reconcile.hpp"

namespace ckms::op {

// The releases of spec.kernels that no selected node runs (`kernels`: release -> nodes).
std::vector<std::string> preflight_releases(const KernelModuleSpec& spec,
                                            const std::map<std::string, std::vector<std::string>>& kernels);

// Adds to `desired` the build Jobs, Events and status.preflight of those releases.
void plan_preflight(const Observed& observed, const std::map<std::string, std::vector<std::string>>& kernels,
                    const OperatorSettings& settings, Desired& desired);

}  // namespace ckms::op
