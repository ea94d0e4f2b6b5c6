#pragma once
// What kube-apiserver refuses among the objects the operator writes, so that the suite meets
// the rules a real cluster applies. Each check names the Kubernetes function it mirrors.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ckms::op::test {

// One entry of a Status object's details.causes.
struct Cause {
  std::string field;
  std::string message;
  std::string reason = "FieldValueInvalid";
};

// What a create of `kind` (Job, DaemonSet, Event, Pod, Node, KernelModule) breaks.
std::vector<Cause> validate_create(const std::string& kind, const nlohmann::json& object);
// What an update from `old` to `next` breaks, including immutable fields.
std::vector<Cause> validate_update(const std::string& kind, const nlohmann::json& old, const nlohmann::json& next);
// Fills in what the API server defaults on create (apps/v1 and batch/v1 defaults.go).
void apply_defaults(const std::string& kind, nlohmann::json& object);

}  // namespace ckms::op::test
