#include "ckms/operator/kernel_module.hpp"

#include <algorithm>
#include <limits>

#include "ckms/artifact/names.hpp"
#include "ckms/base/enum_names.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/reference.hpp"

namespace ckms::op {
namespace {

using nlohmann::json;

class SpecReader {
 public:
  explicit SpecReader(std::string object) : object_(std::move(object)) {}

  [[noreturn]] void bad(std::string_view field, std::string_view why) const {
    fail(ErrorKind::usage, "KernelModule {}: {}: {}", object_, field, why);
  }

  std::string string(const json& parent, const char* key, std::string_view field, bool required) const {
    if (!parent.contains(key) || parent[key].is_null()) {
      if (required) bad(field, "is required");
      return {};
    }
    if (!parent[key].is_string()) bad(field, "must be a string");
    std::string value = parent[key];
    if (required && value.empty()) bad(field, "must not be empty");
    return value;
  }

  std::map<std::string, std::string> string_map(const json& parent, const char* key, std::string_view field) const {
    std::map<std::string, std::string> out;
    if (!parent.contains(key) || parent[key].is_null()) return out;
    if (!parent[key].is_object()) bad(field, "must be a map of strings");
    for (const auto& [k, v] : parent[key].items()) {
      if (!v.is_string()) bad(fmt::format("{}.{}", field, k), "must be a string");
      out[k] = v;
    }
    return out;
  }

  std::string name_ref(const json& parent, const char* key, std::string_view field) const {
    std::string value = string(parent, key, field, false);
    if (!value.empty() && !is_dns_subdomain(value)) bad(field, fmt::format("{} is not an object name", value));
    return value;
  }

 private:
  std::string object_;
};

using artifact::is_module_name;
using artifact::is_parameter_name;
using artifact::is_printable;

// The rules of kube-apiserver's ValidateTolerations (pkg/apis/core/validation/validation.go):
// what it would refuse in the loader's pod template is refused here, as the spec's fault.
void check_tolerations(const json& tolerations, const SpecReader& r) {
  for (std::size_t i = 0; i < tolerations.size(); ++i) {
    const json& t = tolerations[i];
    const std::string field = fmt::format("spec.tolerations[{}]", i);
    for (const char* key : {"key", "operator", "value", "effect"})
      if (t.contains(key) && !t[key].is_string()) r.bad(fmt::format("{}.{}", field, key), "must be a string");
    const std::string key = t.value("key", ""), op = t.value("operator", ""), value = t.value("value", ""),
                      effect = t.value("effect", "");
    if (!key.empty() && !is_qualified_name(key)) r.bad(field + ".key", fmt::format("{} is not a label key", key));
    if (key.empty() && op != "Exists") r.bad(field + ".operator", "must be Exists when key is empty");
    if (op == "Exists" && !value.empty()) r.bad(field + ".value", "must be empty when operator is Exists");
    if (op != "Exists" && op != "Equal" && !op.empty()) r.bad(field + ".operator", "must be Equal or Exists");
    if ((op.empty() || op == "Equal") && !is_label_value(value))
      r.bad(field + ".value", fmt::format("{} is not a label value", value));
    if (!effect.empty() && effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute")
      r.bad(field + ".effect", "must be NoSchedule, PreferNoSchedule or NoExecute");
    if (t.contains("tolerationSeconds") && !t["tolerationSeconds"].is_null()) {
      if (!t["tolerationSeconds"].is_number_integer()) r.bad(field + ".tolerationSeconds", "must be an integer");
      if (effect != "NoExecute") r.bad(field + ".tolerationSeconds", "needs effect NoExecute");
    }
  }
}

// repository, version and moduleName: what is built and loaded.
void read_module(const json& spec, const SpecReader& r, KernelModuleSpec& out) {
  out.repository = r.string(spec, "repository", "spec.repository", true);
  try {
    const auto reference = oci::Reference::parse(out.repository);
    if (reference.is_layout() || reference.tag() || reference.digest())
      r.bad("spec.repository", "must be a registry repository without tag or digest");
  } catch (const Error& e) {
    r.bad("spec.repository", e.what());
  }
  out.version = r.string(spec, "version", "spec.version", true);
  if (!oci::is_valid_tag(out.version)) r.bad("spec.version", fmt::format("{} cannot be a tag", out.version));
  const std::string digest = r.string(spec, "digest", "spec.digest", false);
  if (!digest.empty()) {
    out.digest = Digest::try_parse(digest);
    if (!out.digest) r.bad("spec.digest", fmt::format("{} is not a digest (sha256:<64 hex digits>)", digest));
  }

  out.module_name = r.string(spec, "moduleName", "spec.moduleName", false);
  if (out.module_name.empty()) out.module_name = out.repository.substr(out.repository.rfind('/') + 1);
  if (!is_module_name(out.module_name))
    r.bad("spec.moduleName", fmt::format("{} is not a module name", out.module_name));
}

ModuleSource read_source(const json& spec, const SpecReader& r) {
  ModuleSource out;
  if (!spec.contains("source") || !spec["source"].is_object()) r.bad("spec.source", "is required");
  const json& source = spec["source"];
  const std::string artifact = r.string(source, "artifact", "spec.source.artifact", false);
  const std::string image = r.string(source, "image", "spec.source.image", false);
  if (artifact.empty() == image.empty()) r.bad("spec.source", "needs exactly one of artifact and image");
  if (!artifact.empty()) out.artifact = artifact;
  if (!image.empty()) out.image = image;
  const std::string path = r.string(source, "path", "spec.source.path", false);
  if (!path.empty()) {
    if (path.front() != '/' || !is_printable(path)) r.bad("spec.source.path", "must be an absolute path");
    out.path = path;
  }
  return out;
}

std::optional<TrustedCertificate> read_trusted_certificate(const json& spec, const SpecReader& r) {
  if (!spec.contains("trustedCertificate") || spec["trustedCertificate"].is_null()) return std::nullopt;
  const json& trust = spec["trustedCertificate"];
  if (!trust.is_object()) r.bad("spec.trustedCertificate", "must be an object");
  TrustedCertificate t;
  t.config_map = r.name_ref(trust, "configMap", "spec.trustedCertificate.configMap");
  if (t.config_map.empty()) r.bad("spec.trustedCertificate.configMap", "is required");
  const std::string key = r.string(trust, "key", "spec.trustedCertificate.key", false);
  if (!key.empty()) t.key = key;
  if (t.key.find('/') != std::string::npos || t.key == "." || t.key == "..")
    r.bad("spec.trustedCertificate.key", "must be a plain key name");
  return t;
}

// parameters and removeInTree: how the module is loaded.
void read_loading(const json& spec, const SpecReader& r, KernelModuleSpec& out) {
  out.parameters = r.string_map(spec, "parameters", "spec.parameters");
  for (const auto& [name, value] : out.parameters) {
    if (!is_parameter_name(name)) r.bad("spec.parameters", fmt::format("{} is not a parameter name", name));
    if (!is_printable(value)) r.bad(fmt::format("spec.parameters.{}", name), "has control characters");
  }

  if (spec.contains("removeInTree") && !spec["removeInTree"].is_null()) {
    if (!spec["removeInTree"].is_array()) r.bad("spec.removeInTree", "must be a list of module names");
    for (const auto& m : spec["removeInTree"]) {
      if (!m.is_string() || !is_module_name(m.get<std::string>()))
        r.bad("spec.removeInTree", fmt::format("{} is not a module name", m.dump()));
      out.remove_in_tree.push_back(m);
    }
  }
}

// Releases no selected node runs yet, built ahead of them (preflight).
void read_kernels(const json& spec, const SpecReader& r, KernelModuleSpec& out) {
  if (!spec.contains("kernels") || spec["kernels"].is_null()) return;
  if (!spec["kernels"].is_array()) r.bad("spec.kernels", "must be a list of kernel releases");
  for (const auto& k : spec["kernels"]) {
    // A release goes into a tag, an image reference and a Job annotation, as a node's does.
    if (!k.is_string() || !artifact::is_plain_token(k.get<std::string>()))
      r.bad("spec.kernels", fmt::format("{} is not a kernel release", k.dump()));
    const std::string release = k;
    if (std::find(out.kernels.begin(), out.kernels.end(), release) == out.kernels.end()) out.kernels.push_back(release);
  }
}

// nodeSelector, tolerations and imagePullSecrets: where the loader's pods run.
void read_placement(const json& spec, const SpecReader& r, KernelModuleSpec& out) {
  out.node_selector = r.string_map(spec, "nodeSelector", "spec.nodeSelector");
  for (const auto& [key, value] : out.node_selector) {
    if (!is_qualified_name(key)) r.bad("spec.nodeSelector", fmt::format("{} is not a label key", key));
    if (!is_label_value(value))
      r.bad(fmt::format("spec.nodeSelector.{}", key), fmt::format("{} is not a label value", value));
  }
  if (spec.contains("tolerations") && !spec["tolerations"].is_null()) {
    if (!spec["tolerations"].is_array()) r.bad("spec.tolerations", "must be a list");
    for (const auto& t : spec["tolerations"])
      if (!t.is_object()) r.bad("spec.tolerations", "entries must be Toleration objects");
    check_tolerations(spec["tolerations"], r);
    out.tolerations = spec["tolerations"];
  }
  if (spec.contains("imagePullSecrets") && !spec["imagePullSecrets"].is_null()) {
    if (!spec["imagePullSecrets"].is_array()) r.bad("spec.imagePullSecrets", "must be a list");
    for (const auto& s : spec["imagePullSecrets"]) {
      const std::string name = s.is_object() ? r.name_ref(s, "name", "spec.imagePullSecrets[].name") : "";
      if (name.empty()) r.bad("spec.imagePullSecrets", "entries need a name");
      out.image_pull_secrets.push_back(name);
    }
  }
}

RegistrySettings read_registry(const json& spec, const SpecReader& r) {
  RegistrySettings out;
  if (!spec.contains("registry") || !spec["registry"].is_object()) return out;
  const json& reg = spec["registry"];
  if (reg.contains("plainHTTP")) {
    if (!reg["plainHTTP"].is_boolean()) r.bad("spec.registry.plainHTTP", "must be a boolean");
    out.plain_http = reg["plainHTTP"];
  }
  const std::string auth = r.name_ref(reg, "authSecret", "spec.registry.authSecret");
  if (!auth.empty()) out.auth_secret = auth;
  return out;
}

// IsValidPercent's percentFmt (apimachinery/pkg/util/validation/validation.go): "[0-9]+%".
std::optional<int> percent_of(std::string_view text) {
  if (text.size() < 2 || text.back() != '%') return std::nullopt;
  text.remove_suffix(1);
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  while (text.size() > 1 && text.front() == '0') text.remove_prefix(1);
  return text.size() > 3 ? 1000 : std::stoi(std::string(text));  // anything over 100 is refused alike
}

// spec.maxUnavailable, checked as ValidateRollingUpdateDaemonSet (pkg/apis/apps/validation)
// checks a DaemonSet's: ValidatePositiveIntOrPercent (an integer >= 0, or a percentage),
// IsNotMoreThan100Percent, and "cannot be 0 when maxSurge is 0" (there is no surge here: a
// node runs one build at a time).
IntOrPercent read_max_unavailable(const json& spec, const SpecReader& r) {
  constexpr std::string_view field = "spec.maxUnavailable";
  IntOrPercent out;
  if (!spec.contains("maxUnavailable") || spec["maxUnavailable"].is_null()) return out;
  const json& value = spec["maxUnavailable"];
  if (value.is_number_integer()) {
    const auto n = value.get<std::int64_t>();
    if (n < 0) r.bad(field, "must be greater than or equal to 0");
    if (n > std::numeric_limits<std::int32_t>::max()) r.bad(field, "must be an integer or percentage (e.g '5%')");
    out.value = static_cast<int>(n);
  } else if (value.is_string()) {
    const auto percent = percent_of(value.get<std::string>());
    if (!percent) r.bad(field, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '5%')");
    if (*percent > 100) r.bad(field, "must not be greater than 100%");
    out = {*percent, true};
  } else {
    r.bad(field, "must be an integer or percentage (e.g '5%')");
  }
  if (out.value == 0) r.bad(field, "cannot be 0: no node would ever be upgraded");
  return out;
}

KernelModuleSpec parse_spec(const json& spec, const SpecReader& r) {
  KernelModuleSpec out;
  read_module(spec, r, out);
  out.source = read_source(spec, r);
  out.build_image_template = r.string(spec, "buildImageTemplate", "spec.buildImageTemplate", true);
  if (out.build_image_template.find("{release}") == std::string::npos)
    r.bad("spec.buildImageTemplate", "has no {release}");

  const std::string signing = r.name_ref(spec, "signingSecret", "spec.signingSecret");
  if (!signing.empty()) out.signing_secret = signing;
  out.trusted_certificate = read_trusted_certificate(spec, r);
  read_loading(spec, r, out);
  read_kernels(spec, r, out);
  read_placement(spec, r, out);
  out.registry = read_registry(spec, r);
  out.max_unavailable = read_max_unavailable(spec, r);
  return out;
}

}  // namespace

namespace {
constexpr EnumName<KernelPhase> kPhaseNames[] = {{KernelPhase::unknown, "Unknown"},
                                                 {KernelPhase::building, "Building"},
                                                 {KernelPhase::build_failed, "BuildFailed"},
                                                 {KernelPhase::loading, "Loading"},
                                                 {KernelPhase::loaded, "Loaded"}};

constexpr EnumName<ConditionType> kConditionTypeNames[] = {{ConditionType::building, "Building"},
                                                           {ConditionType::degraded, "Degraded"},
                                                           {ConditionType::ready, "Ready"},
                                                           {ConditionType::upgrading, "Upgrading"}};

constexpr EnumName<ConditionReason> kConditionReasonNames[] = {
    {ConditionReason::no_builds, "NoBuilds"},
    {ConditionReason::builds_running, "BuildsRunning"},
    {ConditionReason::as_expected, "AsExpected"},
    {ConditionReason::build_failed, "BuildFailed"},
    {ConditionReason::load_failed, "LoadFailed"},
    {ConditionReason::registry_unreachable, "RegistryUnreachable"},
    {ConditionReason::invalid_spec, "InvalidSpec"},
    {ConditionReason::workload_rejected, "WorkloadRejected"},
    {ConditionReason::upgrade_failed, "UpgradeFailed"},
    {ConditionReason::all_nodes_loaded, "AllNodesLoaded"},
    {ConditionReason::not_all_nodes_loaded, "NotAllNodesLoaded"},
    {ConditionReason::no_nodes_selected, "NoNodesSelected"},
    {ConditionReason::rolling_out, "RollingOut"},
    {ConditionReason::up_to_date, "UpToDate"}};

json to_json(const UpgradeStatus& u) {
  return {{"version", u.version},     {"maxUnavailable", u.max_unavailable},
          {"nodes", u.nodes},         {"updatedNodes", u.updated},
          {"upgrading", u.upgrading}, {"held", u.held},
          {"stoppedAt", u.stopped_at}};
}

std::vector<std::string> strings_at(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const auto& s : j[key])
      if (s.is_string()) out.push_back(s);
  return out;
}

std::optional<UpgradeStatus> upgrade_from_json(const json& j) {
  if (!j.contains("upgrade") || !j["upgrade"].is_object()) return std::nullopt;
  const json& u = j["upgrade"];
  return UpgradeStatus{u.value("version", ""),     u.value("maxUnavailable", 0), u.value("nodes", 0),
                       u.value("updatedNodes", 0), strings_at(u, "upgrading"),   strings_at(u, "held"),
                       u.value("stoppedAt", "")};
}
}  // namespace

std::string_view to_string(KernelPhase phase) { return name_of(phase, kPhaseNames); }

KernelPhase kernel_phase(std::string_view text) {
  return value_named(text, kPhaseNames).value_or(KernelPhase::unknown);
}

std::string_view to_string(ConditionType type) { return name_of(type, kConditionTypeNames); }
std::string_view to_string(ConditionReason reason) { return name_of(reason, kConditionReasonNames); }

std::optional<ConditionType> condition_type(std::string_view text) { return value_named(text, kConditionTypeNames); }

std::optional<ConditionReason> condition_reason(std::string_view text) {
  return value_named(text, kConditionReasonNames);
}

int scaled_value(const IntOrPercent& value, int total) {
  if (!value.percent) return value.value;
  return static_cast<int>((static_cast<std::int64_t>(value.value) * total + 99) / 100);  // rounded up
}

std::string hold_label(std::string_view module_name) { return fmt::format("hold.ckms.io/{}", module_name); }

const Condition* KernelModuleStatus::condition(ConditionType type) const {
  for (const auto& c : conditions)
    if (c.type == type) return &c;
  return nullptr;
}

KernelModule parse_kernel_module(const json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object())
    fail(ErrorKind::usage, "KernelModule: object without metadata");
  const json& meta = object["metadata"];
  KernelModule km;
  km.name = meta.value("name", "");
  km.namespace_name = meta.value("namespace", "");
  km.uid = meta.value("uid", "");
  km.resource_version = meta.value("resourceVersion", "");
  km.generation = meta.value("generation", std::int64_t{0});
  km.deleting = meta.contains("deletionTimestamp") && !meta["deletionTimestamp"].is_null();
  const SpecReader reader(km.namespace_name + "/" + km.name);
  if (km.name.empty()) reader.bad("metadata.name", "is required");
  // The name labels every Job, DaemonSet and pod made for it, and a label value holds 63.
  if (!is_label_value(km.name))
    reader.bad("metadata.name", "must be at most 63 characters: it is a label value on the objects made for it");
  if (!object.contains("spec") || !object["spec"].is_object()) reader.bad("spec", "is required");
  km.spec = parse_spec(object["spec"], reader);
  if (object.contains("status") && object["status"].is_object()) km.status = status_from_json(object["status"]);
  return km;
}

nlohmann::json to_json(const KernelModuleStatus& status) {
  json conditions = json::array();
  for (const auto& c : status.conditions) {
    conditions.push_back({{"type", to_string(c.type)},
                          {"status", c.status},
                          {"reason", to_string(c.reason)},
                          {"message", c.message},
                          {"lastTransitionTime", c.last_transition_time},
                          {"observedGeneration", c.observed_generation}});
  }
  json kernels = json::array();
  for (const auto& k : status.kernels) {
    kernels.push_back({{"release", k.release},
                       {"nodes", k.nodes},
                       {"built", k.built},
                       {"loaded", k.loaded},
                       {"failed", k.failed},
                       {"phase", to_string(k.phase)}});
  }
  json preflight = json::array();
  for (const auto& p : status.preflight) preflight.push_back(to_json(p));
  json node_statuses = json::array();
  for (const auto& n : status.node_statuses) node_statuses.push_back(to_json(n));
  json out = {{"observedGeneration", status.observed_generation},
              {"nodes", status.nodes},
              {"loadedNodes", status.loaded},
              {"conditions", conditions},
              {"kernels", kernels},
              {"nodeStatus", node_statuses},
              {"preflight", preflight}};
  if (status.upgrade) out["upgrade"] = to_json(*status.upgrade);
  return out;
}

KernelModuleStatus status_from_json(const nlohmann::json& j) {
  // Status is ours: what we cannot read is simply recomputed, never an error.
  KernelModuleStatus s;
  s.observed_generation = j.value("observedGeneration", std::int64_t{0});
  s.nodes = j.value("nodes", 0);
  s.loaded = j.value("loadedNodes", 0);
  if (j.contains("conditions") && j["conditions"].is_array()) {
    for (const auto& c : j["conditions"]) {
      if (!c.is_object()) continue;
      // A type or reason this operator does not write (another version's) is recomputed too.
      const auto type = condition_type(c.value("type", ""));
      const auto reason = condition_reason(c.value("reason", ""));
      if (!type || !reason) continue;
      s.conditions.push_back(Condition{*type, c.value("status", ""), *reason, c.value("message", ""),
                                       c.value("lastTransitionTime", ""),
                                       c.value("observedGeneration", std::int64_t{0})});
    }
  }
  if (j.contains("kernels") && j["kernels"].is_array()) {
    for (const auto& k : j["kernels"]) {
      if (!k.is_object()) continue;
      s.kernels.push_back(KernelStatus{k.value("release", ""), k.value("nodes", 0), k.value("built", 0),
                                       k.value("loaded", 0), k.value("failed", 0), kernel_phase(k.value("phase", ""))});
    }
  }
  if (j.contains("nodeStatus") && j["nodeStatus"].is_array())
    for (const auto& n : j["nodeStatus"]) s.node_statuses.push_back(node_status_from_json(n));
  if (j.contains("preflight") && j["preflight"].is_array())
    for (const auto& p : j["preflight"]) s.preflight.push_back(preflight_status_from_json(p));
  s.upgrade = upgrade_from_json(j);
  return s;
}

bool is_dns_label(std::string_view text) {
  if (text.empty() || text.size() > 63) return false;
  const auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; };
  return std::all_of(text.begin(), text.end(), ok) && text.front() != '-' && text.back() != '-';
}

namespace {
// qualifiedNameFmt of apimachinery/pkg/util/validation/validation.go: alphanumerics with
// '-', '_', '.' inside, at most 63.
bool is_qualified_part(std::string_view text) {
  const auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  return !text.empty() && text.size() <= 63 && alnum(text.front()) && alnum(text.back()) &&
         std::all_of(text.begin(), text.end(), [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}
}  // namespace

bool is_label_value(std::string_view text) { return text.empty() || is_qualified_part(text); }

bool is_qualified_name(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return is_qualified_part(text);
  return is_dns_subdomain(text.substr(0, slash)) && is_qualified_part(text.substr(slash + 1));
}

bool is_dns_subdomain(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const auto dot = text.find('.', start);
    if (!is_dns_label(text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start)))
      return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace ckms::op
