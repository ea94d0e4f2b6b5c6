#include "ckms/operator/preflight.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/operator/json_fields.hpp"

namespace ckms::op {
namespace {

using nlohmann::json;

const json* job_for(const std::vector<json>& jobs, const std::string& release) {
  const auto it =
      std::find_if(jobs.begin(), jobs.end(), [&](const json& j) { return kernel_release_of(j) == release; });
  return it == jobs.end() ? nullptr : &*it;
}

// A release without an artifact: its Job is wanted, and says how the build went.
PreflightStatus plan_build(const Observed& observed, const std::string& release, const OperatorSettings& settings,
                           Desired& desired) {
  const KernelModule& module = observed.module;
  desired.jobs.push_back(build_job(module, release, settings));
  const json& wanted = desired.jobs.back();
  const std::string name = wanted["metadata"]["name"];
  const json* job = job_for(observed.jobs, release);
  const bool same_job = job && spec_hash(*job) == spec_hash(wanted);
  if (same_job && has_true_condition(*job, "Failed")) {
    const std::string why = condition_message(*job, "Failed");
    desired.events.push_back({"Warning", "BuildFailed",
                              fmt::format("preflight build for kernel {} failed (Job {}): {}", release, name, why)});
    return {release, PreflightState::build_failed, fmt::format("Job {} failed: {}", name, why)};
  }
  if (same_job && has_true_condition(*job, "Complete"))
    return {release, PreflightState::build_failed,
            fmt::format("Job {} completed, but {} has no tag for it", name, module.spec.repository)};
  return {release, PreflightState::building, fmt::format("Job {}", name)};
}

}  // namespace

std::vector<std::string> preflight_releases(const KernelModuleSpec& spec,
                                            const std::map<std::string, std::vector<std::string>>& kernels) {
  std::vector<std::string> out;
  for (const auto& release : spec.kernels)
    if (!kernels.contains(release)) out.push_back(release);
  return out;
}

void plan_preflight(const Observed& observed, const std::map<std::string, std::vector<std::string>>& kernels,
                    const OperatorSettings& settings, Desired& desired) {
  const KernelModuleSpec& spec = observed.module.spec;
  for (const auto& release : preflight_releases(spec, kernels)) {
    const auto found = observed.artifacts.find(release);
    const Availability availability = found == observed.artifacts.end() ? Availability::unknown : found->second;
    PreflightStatus status{release};
    if (availability == Availability::published) {
      status = {release, PreflightState::published,
                fmt::format("{}:{}", spec.repository, artifact::kernel_tag(spec.version, release))};
    } else if (availability == Availability::missing) {
      status = plan_build(observed, release, settings, desired);
    } else {
      // No answer: a build that runs goes on, none is started on a guess.
      if (const json* job = job_for(observed.jobs, release)) desired.jobs.push_back(*job);
      const auto why = observed.unanswered.find(release);
      status.message = fmt::format("no answer from the registry{}",
                                   why == observed.unanswered.end() ? "" : " (" + why->second + ")");
    }
    desired.status.preflight.push_back(std::move(status));
  }
}

}  // namespace ckms::op
