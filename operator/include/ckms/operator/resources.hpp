#pragma once
// The API resources the operator touches, their REST paths, the labels that mark what it
// owns, and the permissions it needs: one table, so that the client, the RBAC manifest and
// its test cannot drift apart.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckms::op {

struct Resource {
  std::string_view group;    // "" for the core group
  std::string_view version;  // "v1", "v1alpha1"
  std::string_view plural;   // "kernelmodules"
  std::string_view kind;     // "KernelModule"
  bool namespaced = true;

  std::string api_version() const;  // "ckms.io/v1alpha1", "v1"
  // The collection: "/apis/batch/v1/namespaces/ns/jobs" ("/api/v1/nodes" when cluster-wide).
  std::string collection(std::string_view ns) const;
  // One object, optionally a subresource: ".../kernelmodules/hello/status".
  std::string object(std::string_view ns, std::string_view name, std::string_view subresource = {}) const;
};

namespace resource {
inline constexpr Resource kernel_modules{"ckms.io", "v1alpha1", "kernelmodules", "KernelModule", true};
inline constexpr Resource nodes{"", "v1", "nodes", "Node", false};
inline constexpr Resource jobs{"batch", "v1", "jobs", "Job", true};
inline constexpr Resource daemon_sets{"apps", "v1", "daemonsets", "DaemonSet", true};
inline constexpr Resource pods{"", "v1", "pods", "Pod", true};
inline constexpr Resource events{"", "v1", "events", "Event", true};
}  // namespace resource

// Labels and annotations on what the operator creates.
namespace label {
inline constexpr std::string_view managed_by = "app.kubernetes.io/managed-by";
inline constexpr std::string_view managed_by_value = "ckms-operator";
inline constexpr std::string_view component = "app.kubernetes.io/component";  // build | load
inline constexpr std::string_view kernel_module = "ckms.io/kernelmodule";     // owner's name
inline constexpr std::string_view kernel = "ckms.io/kernel";                  // kernel_key()
inline constexpr std::string_view version = "ckms.io/version";                // version_key(), loaders
inline constexpr std::string_view kernel_release = "ckms.io/kernel-release";  // annotation
inline constexpr std::string_view spec_hash = "ckms.io/spec-hash";            // annotation
inline constexpr std::string_view module_version = "ckms.io/module-version";  // annotation
}  // namespace label

// The label selector for everything the operator created, in a query string.
std::string owned_selector();

// One RBAC rule the operator needs: apiGroup, resource (with "/status" for subresources),
// verbs. rbac.yaml must grant exactly these (tests/unit/operator/manifests_test.cpp).
struct Permission {
  std::string api_group;
  std::string resource;
  std::vector<std::string> verbs;
  bool cluster_scoped = false;
};
std::vector<Permission> required_permissions();

}  // namespace ckms::op
