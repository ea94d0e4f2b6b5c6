#pragma once
// The KernelModule custom resource (ckms.io/v1alpha1), parsed once and validated: after
// parsing, the controller never looks at the raw JSON of a spec again.
// operator/deploy/crd.yaml is its schema; docs/operator.md explains each field.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/base/digest.hpp"
#include "ckms/operator/node_status.hpp"
#include "ckms/operator/preflight_status.hpp"

namespace ckms::op {

struct ModuleSource {
  // Exactly one of these: a source artifact (`ckms source push`) or an image holding the
  // source tree (with dkms.conf) at `path`.
  std::optional<std::string> artifact;
  std::optional<std::string> image;
  std::string path = "/src";
};

struct TrustedCertificate {
  std::string config_map;
  std::string key = "cert.pem";
};

struct RegistrySettings {
  bool plain_http = false;
  // A kubernetes.io/dockerconfigjson Secret handed to ckms as --authfile in builds and
  // loaders (the operator itself uses its own --authfile).
  std::optional<std::string> auth_secret;
};

// An int or a percentage, as a DaemonSet's rollingUpdate.maxUnavailable (an IntOrString).
struct IntOrPercent {
  int value = 1;
  bool percent = false;
  friend bool operator==(const IntOrPercent&, const IntOrPercent&) = default;
};
// apimachinery's intstr.GetScaledValueFromIntOrPercent with roundUp, as the DaemonSet
// controller resolves maxUnavailable against the nodes that should run the pod.
int scaled_value(const IntOrPercent& value, int total);

struct KernelModuleSpec {
  std::string repository;   // "registry.example/ckms/hello": no tag, no digest
  std::string version;      // PACKAGE_VERSION, the index tag
  std::string module_name;  // PACKAGE_NAME, what `ckms unload` names; defaults to the repo's last component
  // spec.digest: what loaders load, pinned: the digest of the version's module index or of
  // one kernel's manifest (`ckms load REPO:VERSION@DIGEST`, docs/install.md "Digest pins").
  std::optional<ckms::Digest> digest;
  ModuleSource source;
  std::string build_image_template;           // with {release}
  std::optional<std::string> signing_secret;  // kubernetes.io/tls: tls.key, tls.crt
  std::optional<TrustedCertificate> trusted_certificate;
  std::map<std::string, std::string> parameters;  // module parameters for `ckms load`
  std::vector<std::string> remove_in_tree;        // in-tree modules to unload first
  std::vector<std::string> kernels;               // releases to build for ahead of nodes (preflight)
  std::map<std::string, std::string> node_selector;
  nlohmann::json tolerations = nlohmann::json::array();  // core/v1 Toleration objects
  std::vector<std::string> image_pull_secrets;
  RegistrySettings registry;
  IntOrPercent max_unavailable;  // nodes between builds at once while a version rolls out
};

// The node label that holds a node back from this module's upgrades ("hold.ckms.io/NAME").
std::string hold_label(std::string_view module_name);

// The conditions of a KernelModule's status and why each has its status; strings (CamelCase)
// only in the status JSON (to_string, condition_type, condition_reason).
enum class ConditionType { building, degraded, ready, upgrading };
enum class ConditionReason {
  // Building
  no_builds,
  builds_running,
  // Degraded: found by reconcile, or by the controller (invalid_spec, workload_rejected)
  as_expected,
  build_failed,
  load_failed,
  registry_unreachable,
  invalid_spec,
  workload_rejected,
  upgrade_failed,
  // Ready
  all_nodes_loaded,
  not_all_nodes_loaded,
  no_nodes_selected,
  // Upgrading
  rolling_out,
  up_to_date,
};
std::string_view to_string(ConditionType type);
std::string_view to_string(ConditionReason reason);
// The type or reason a status string names; nothing for a string this operator does not write.
std::optional<ConditionType> condition_type(std::string_view text);
std::optional<ConditionReason> condition_reason(std::string_view text);

struct Condition {
  ConditionType type = ConditionType::ready;
  std::string status;  // "True", "False", "Unknown"
  ConditionReason reason = ConditionReason::as_expected;
  std::string message;
  std::string last_transition_time;  // RFC 3339
  std::int64_t observed_generation = 0;
  friend bool operator==(const Condition&, const Condition&) = default;
};

// Where one kernel release stands; a string only in the status JSON (to_string).
enum class KernelPhase { unknown, building, build_failed, loading, loaded };
std::string_view to_string(KernelPhase phase);
// The phase a status string names; unknown for anything else.
KernelPhase kernel_phase(std::string_view text);

// What happened on the nodes of one kernel release.
struct KernelStatus {
  std::string release;
  int nodes = 0;   // selected nodes running this kernel
  int built = 0;   // of those, nodes whose kernel has a published artifact
  int loaded = 0;  // nodes whose loader reports the module loaded
  int failed = 0;  // nodes whose build failed or whose loader keeps failing
  KernelPhase phase = KernelPhase::unknown;
  friend bool operator==(const KernelStatus&, const KernelStatus&) = default;
};

// A version rolling out over nodes that still run an older build (status.upgrade).
struct UpgradeStatus {
  std::string version;                 // spec.version, what the nodes move to
  int max_unavailable = 0;             // spec.maxUnavailable resolved against `nodes`
  int nodes = 0;                       // selected nodes
  int updated = 0;                     // of those, loaded with `version`
  std::vector<std::string> upgrading;  // between the older build and this one
  std::vector<std::string> held;       // kept on an older build by the hold label
  std::string stopped_at;              // the node whose failure stopped the rollout
  friend bool operator==(const UpgradeStatus&, const UpgradeStatus&) = default;
};

struct KernelModuleStatus {
  std::int64_t observed_generation = 0;
  int nodes = 0;  // totals over kernels, for the printer columns
  int loaded = 0;
  std::vector<Condition> conditions;       // sorted by type
  std::vector<KernelStatus> kernels;       // sorted by release
  std::vector<NodeStatus> node_statuses;   // failed first, then pending, then loaded; by node
  std::vector<PreflightStatus> preflight;  // spec.kernels no selected node runs, in spec order
  std::optional<UpgradeStatus> upgrade;    // while an older build is loaded anywhere
  friend bool operator==(const KernelModuleStatus&, const KernelModuleStatus&) = default;

  const Condition* condition(ConditionType type) const;
};

struct KernelModule {
  std::string name;
  std::string namespace_name;
  std::string uid;
  std::string resource_version;
  std::int64_t generation = 0;
  bool deleting = false;  // metadata.deletionTimestamp is set
  KernelModuleSpec spec;
  KernelModuleStatus status;
};

// Reads metadata, spec and status. Throws a usage error naming the object and the field
// ("KernelModule ns/hello: spec.buildImageTemplate: has no {release}").
KernelModule parse_kernel_module(const nlohmann::json& object);

nlohmann::json to_json(const KernelModuleStatus& status);
KernelModuleStatus status_from_json(const nlohmann::json& status);

// RFC 1123 label (names of Secrets, ConfigMaps, namespaces) and subdomain (object names).
bool is_dns_label(std::string_view text);
bool is_dns_subdomain(std::string_view text);
// IsQualifiedName and IsValidLabelValue of apimachinery's util/validation: label keys
// ("[prefix/]name") and values (at most 63, may be empty).
bool is_qualified_name(std::string_view text);
bool is_label_value(std::string_view text);

}  // namespace ckms::op
