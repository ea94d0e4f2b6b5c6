#include "fake_validation.hpp"

#include <regex>

#include <fmt/format.h>

namespace ckms::op::test {
namespace {

using nlohmann::json;

// staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go: qualifiedNameFmt,
// labelValueFmt, dns1123LabelFmt, dns1123SubdomainFmt and their length limits.
const std::regex kQualifiedName("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");
const std::regex kDns1123Label("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
const std::regex kDns1123Subdomain("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");

std::string str(const json& object, const char* key) {
  return object.is_object() && object.contains(key) && object[key].is_string() ? object[key].get<std::string>() : "";
}

class Checker {
 public:
  std::vector<Cause> causes;

  void invalid(const std::string& field, const std::string& message) { causes.push_back({field, message}); }
  void required(const std::string& field, const std::string& message) {
    causes.push_back({field, message, "FieldValueRequired"});
  }

  // IsDNS1123Subdomain (validation.go): object names of Jobs, DaemonSets, Events, Nodes.
  void dns_subdomain(const std::string& field, const std::string& value) {
    if (value.size() > 253 || !std::regex_match(value, kDns1123Subdomain))
      invalid(field, fmt::format("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                                 "'-' or '.', and must start and end with an alphanumeric character: \"{}\"",
                                 value));
  }
  // IsDNS1123Label (validation.go): container, volume and port names.
  void dns_label(const std::string& field, const std::string& value) {
    if (value.size() > 63 || !std::regex_match(value, kDns1123Label))
      invalid(field, fmt::format("a lowercase RFC 1123 label must be no more than 63 characters: \"{}\"", value));
  }
  // IsQualifiedName (validation.go): label and annotation keys, toleration keys.
  void qualified_name(const std::string& field, const std::string& value) {
    const auto slash = value.find('/');
    std::string name = value;
    if (slash != std::string::npos) {
      const std::string prefix = value.substr(0, slash);
      name = value.substr(slash + 1);
      if (prefix.empty())
        invalid(field, "prefix part must be non-empty");
      else
        dns_subdomain(field, prefix);
    }
    if (name.empty() || name.size() > 63 || !std::regex_match(name, kQualifiedName))
      invalid(field, fmt::format("name part must be no more than 63 characters and consist of alphanumeric characters, "
                                 "'-', '_' or '.', starting and ending with an alphanumeric character: \"{}\"",
                                 value));
  }
  // IsValidLabelValue (validation.go).
  void label_value(const std::string& field, const std::string& value) {
    if (value.size() > 63)
      invalid(field, "must be no more than 63 characters");
    else if (!value.empty() && !std::regex_match(value, kQualifiedName))
      invalid(field, fmt::format("a valid label must be an empty string or consist of alphanumeric characters, '-', "
                                 "'_' or '.', and must start and end with an alphanumeric character: \"{}\"",
                                 value));
  }
  // ValidateLabels (apimachinery/pkg/apis/meta/v1/validation/validation.go).
  void labels(const std::string& field, const json& labels) {
    if (labels.is_null()) return;
    for (const auto& [key, value] : labels.items()) {
      qualified_name(field, key);
      label_value(fmt::format("{}[{}]", field, key), value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  // ValidateObjectMeta (apimachinery/pkg/api/validation/objectmeta.go): the name by the
  // resource's rule, labels, annotation keys.
  void object_meta(const json& meta, bool subdomain) {
    const std::string name = str(meta, "name");
    if (name.empty())
      required("metadata.name", "name or generateName is required");
    else if (subdomain)
      dns_subdomain("metadata.name", name);
    else
      dns_label("metadata.name", name);
    labels("metadata.labels", meta.value("labels", json()));
    const json annotations = meta.value("annotations", json::object());
    for (const auto& [key, value] : annotations.items()) qualified_name("metadata.annotations", key);
  }

  // ValidateNodeFieldSelectorRequirement (pkg/apis/core/validation/validation.go): a node
  // *field* selector takes exactly one value, and only metadata.name is a field.
  void node_field_requirement(const std::string& field, const json& req) {
    const std::string op = str(req, "operator");
    const json values = req.value("values", json::array());
    if (op == "In" || op == "NotIn") {
      if (values.size() != 1)
        required(field + ".values",
                 "must be only one value when `operator` is 'In' or 'NotIn' for node field selector");
    } else {
      invalid(field + ".operator", fmt::format("\"{}\": not a valid selector operator", op));
    }
    if (str(req, "key") != "metadata.name") invalid(field + ".key", "not a valid field selector key");
    for (std::size_t i = 0; i < values.size(); ++i)
      dns_subdomain(fmt::format("{}.values[{}]", field, i), values[i].is_string() ? values[i].get<std::string>() : "");
  }
  // ValidateNodeSelectorRequirement (validation.go).
  void node_label_requirement(const std::string& field, const json& req) {
    const std::string op = str(req, "operator");
    const std::size_t n = req.value("values", json::array()).size();
    if ((op == "In" || op == "NotIn") && n == 0)
      required(field + ".values", "must be specified when `operator` is 'In' or 'NotIn'");
    else if ((op == "Exists" || op == "DoesNotExist") && n > 0)
      invalid(field + ".values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    else if ((op == "Gt" || op == "Lt") && n != 1)
      required(field + ".values", "must be specified single value when `operator` is 'Lt' or 'Gt'");
    else if (op != "In" && op != "NotIn" && op != "Exists" && op != "DoesNotExist" && op != "Gt" && op != "Lt")
      invalid(field + ".operator", "not a valid selector operator");
    qualified_name(field + ".key", str(req, "key"));
  }
  // ValidateNodeSelector and ValidateNodeSelectorTerm (validation.go).
  void node_selector(const std::string& field, const json& selector) {
    const json terms = selector.value("nodeSelectorTerms", json::array());
    if (terms.empty()) required(field + ".nodeSelectorTerms", "must have at least one node selector term");
    for (std::size_t t = 0; t < terms.size(); ++t) {
      const std::string term = fmt::format("{}.nodeSelectorTerms[{}]", field, t);
      const json expressions = terms[t].value("matchExpressions", json::array());
      for (std::size_t j = 0; j < expressions.size(); ++j)
        node_label_requirement(fmt::format("{}.matchExpressions[{}]", term, j), expressions[j]);
      const json fields = terms[t].value("matchFields", json::array());
      for (std::size_t j = 0; j < fields.size(); ++j)
        node_field_requirement(fmt::format("{}.matchFields[{}]", term, j), fields[j]);
    }
  }
  // ValidateTolerations (validation.go).
  void tolerations(const std::string& field, const json& tolerations) {
    for (std::size_t i = 0; i < tolerations.size(); ++i) {
      const json& t = tolerations[i];
      const std::string at = fmt::format("{}[{}]", field, i);
      const std::string key = str(t, "key"), op = str(t, "operator"), value = str(t, "value"),
                        effect = str(t, "effect");
      if (!key.empty()) qualified_name(at + ".key", key);
      if (key.empty() && op != "Exists")
        invalid(at + ".operator",
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"");
      if (t.contains("tolerationSeconds") && !t["tolerationSeconds"].is_null() && effect != "NoExecute")
        invalid(at + ".effect", "effect must be 'NoExecute' when `tolerationSeconds` is set");
      if (op.empty() || op == "Equal")
        label_value(at + ".operator", value);
      else if (op == "Exists" && !value.empty())
        invalid(at + ".operator", "value must be empty when `operator` is 'Exists'");
      else if (op != "Exists")
        causes.push_back({at + ".operator", fmt::format("Unsupported value: \"{}\"", op), "FieldValueNotSupported"});
      if (!effect.empty() && effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute")
        causes.push_back({at + ".effect", fmt::format("Unsupported value: \"{}\"", effect), "FieldValueNotSupported"});
    }
  }
  // ValidatePodSpec (validation.go), the parts the operator fills.
  void pod_spec(const std::string& field, const json& spec) {
    for (const char* list : {"initContainers", "containers"}) {
      const json containers = spec.value(list, json::array());
      for (std::size_t i = 0; i < containers.size(); ++i) {
        dns_label(fmt::format("{}.{}[{}].name", field, list, i), str(containers[i], "name"));
        termination_message_policy(fmt::format("{}.{}[{}].terminationMessagePolicy", field, list, i),
                                   str(containers[i], "terminationMessagePolicy"));
      }
    }
    const json volumes = spec.value("volumes", json::array());
    for (std::size_t i = 0; i < volumes.size(); ++i)
      dns_label(fmt::format("{}.volumes[{}].name", field, i), str(volumes[i], "name"));
    labels(field + ".nodeSelector", spec.value("nodeSelector", json()));
    tolerations(field + ".tolerations", spec.value("tolerations", json::array()));
    const json::json_pointer required_terms("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution");
    if (spec.contains(required_terms))
      node_selector(field + ".affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
                    spec[required_terms]);
  }
  // validateContainerCommon (validation.go): File or FallbackToLogsOnError. A v1 client's
  // absent policy is defaulted to File before validation, on create and update alike
  // (SetDefaults_Container in pkg/apis/core/v1/defaults.go), so absent is no error.
  void termination_message_policy(const std::string& field, const std::string& policy) {
    if (policy.empty() || policy == "File" || policy == "FallbackToLogsOnError") return;
    causes.push_back(
        {field, fmt::format("Unsupported value: \"{}\": supported values: \"File\", \"FallbackToLogsOnError\"", policy),
         "FieldValueNotSupported"});
  }
  // ValidatePodTemplateSpec (validation.go): labels and spec.
  void pod_template(const std::string& field, const json& tmpl) {
    labels(field + ".metadata.labels", tmpl.value("/metadata/labels"_json_pointer, json()));
    pod_spec(field + ".spec", tmpl.value("spec", json::object()));
  }
  // The selector must select the template: ValidateDaemonSetSpec (pkg/apis/apps/validation)
  // and validateJobSpec with a manual selector (pkg/apis/batch/validation).
  void selector_matches(const json& spec) {
    const json match = spec.value("/selector/matchLabels"_json_pointer, json::object());
    const json labels = spec.value("/template/metadata/labels"_json_pointer, json::object());
    if (match.empty()) {
      invalid("spec.selector", "empty selector is invalid for daemonset");
      return;
    }
    for (const auto& [key, value] : match.items())
      if (!labels.contains(key) || labels[key] != value)
        invalid("spec.template.metadata.labels", "`selector` does not match template `labels`");
  }
};

}  // namespace

void apply_defaults(const std::string& kind, json& object) {
  if (kind != "DaemonSet" && kind != "Job") return;
  json& spec = object["spec"];
  if (kind == "DaemonSet") {
    // SetDefaults_DaemonSet (pkg/apis/apps/v1/defaults.go).
    if (!spec.contains("updateStrategy")) spec["updateStrategy"] = {{"type", "RollingUpdate"}};
    if (spec["updateStrategy"].value("type", "") == "RollingUpdate" &&
        !spec["updateStrategy"].contains("rollingUpdate"))
      spec["updateStrategy"]["rollingUpdate"] = {{"maxUnavailable", 1}, {"maxSurge", 0}};
    if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
  } else if (kind == "Job") {
    // SetDefaults_Job (pkg/apis/batch/v1/defaults.go) and the generated selector that the
    // Job strategy adds (pkg/registry/batch/job/strategy.go generateSelector): the pods are
    // labelled with the Job's name, so a Job name is bound by a label value's 63.
    for (const char* field : {"completions", "parallelism"})
      if (!spec.contains(field)) spec[field] = 1;
    if (!spec.contains("backoffLimit")) spec["backoffLimit"] = 6;
    if (!spec.contains("completionMode")) spec["completionMode"] = "NonIndexed";
    if (!spec.contains("suspend")) spec["suspend"] = false;
    if (!spec.value("manualSelector", false)) {
      const std::string uid = object["metadata"].value("uid", "");
      const std::string name = object["metadata"].value("name", "");
      spec["selector"] = {{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
      json& labels = spec["template"]["metadata"]["labels"];
      labels["batch.kubernetes.io/controller-uid"] = uid;
      labels["controller-uid"] = uid;
      labels["batch.kubernetes.io/job-name"] = name;
      labels["job-name"] = name;
    }
  }
  if (spec.contains("template")) {
    // SetDefaults_PodSpec (pkg/apis/core/v1/defaults.go).
    json& pod = spec["template"]["spec"];
    if (!pod.contains("restartPolicy")) pod["restartPolicy"] = "Always";
    if (!pod.contains("dnsPolicy")) pod["dnsPolicy"] = "ClusterFirst";
    if (!pod.contains("schedulerName")) pod["schedulerName"] = "default-scheduler";
    if (!pod.contains("terminationGracePeriodSeconds")) pod["terminationGracePeriodSeconds"] = 30;
    // SetDefaults_Container (the same file).
    for (const char* list : {"initContainers", "containers"}) {
      if (!pod.contains(list)) continue;
      for (auto& container : pod[list]) {
        if (!container.contains("terminationMessagePath")) container["terminationMessagePath"] = "/dev/termination-log";
        if (!container.contains("terminationMessagePolicy")) container["terminationMessagePolicy"] = "File";
      }
    }
  }
}

std::vector<Cause> validate_create(const std::string& kind, const json& object) {
  Checker c;
  const json meta = object.value("metadata", json::object());
  const json spec = object.value("spec", json::object());
  if (kind == "DaemonSet") {
    // ValidateDaemonSet (pkg/apis/apps/validation/validation.go): ValidateDaemonSetName is
    // NameIsDNSSubdomain; ValidateDaemonSetSpec checks selector, template and restartPolicy.
    c.object_meta(meta, true);
    c.selector_matches(spec);
    c.pod_template("spec.template", spec.value("template", json::object()));
    const std::string restart = spec.value("/template/spec/restartPolicy"_json_pointer, std::string("Always"));
    if (restart != "Always")
      c.causes.push_back({"spec.template.spec.restartPolicy", fmt::format("Unsupported value: \"{}\"", restart),
                          "FieldValueNotSupported"});
    const std::string strategy = spec.value("/updateStrategy/type"_json_pointer, std::string("RollingUpdate"));
    if (strategy != "RollingUpdate" && strategy != "OnDelete")
      c.causes.push_back(
          {"spec.updateStrategy.type", fmt::format("Unsupported value: \"{}\"", strategy), "FieldValueNotSupported"});
  } else if (kind == "Job") {
    // ValidateJob (pkg/apis/batch/validation/validation.go): ValidateReplicationControllerName
    // (a DNS subdomain), then the spec with its (generated) selector and template.
    c.object_meta(meta, true);
    c.selector_matches(spec);
    c.pod_template("spec.template", spec.value("template", json::object()));
    const std::string restart = spec.value("/template/spec/restartPolicy"_json_pointer, std::string());
    if (restart != "Never" && restart != "OnFailure")
      c.causes.push_back({"spec.template.spec.restartPolicy", fmt::format("Unsupported value: \"{}\"", restart),
                          "FieldValueNotSupported"});
  } else if (kind == "Event" || kind == "Node" || kind == "KernelModule" || kind == "Pod") {
    // ValidateEventCreate, ValidateNode, CRD objects (ValidateObjectMeta with
    // NameIsDNSSubdomain); ValidatePodCreate's name rule is the same.
    c.object_meta(meta, true);
  }
  return c.causes;
}

std::vector<Cause> validate_update(const std::string& kind, const json& old, const json& next) {
  std::vector<Cause> causes = validate_create(kind, next);
  const auto immutable = [&](const char* pointer, const char* field) {
    const json::json_pointer p(pointer);
    if (old.value(p, json()) != next.value(p, json())) causes.push_back({field, "field is immutable"});
  };
  // ValidateDaemonSetUpdate (pkg/apis/apps/validation): the selector never changes.
  if (kind == "DaemonSet") immutable("/spec/selector", "spec.selector");
  // ValidateJobSpecUpdate (pkg/apis/batch/validation): selector, template (of a Job that is
  // not suspended) and completions are fixed once created.
  if (kind == "Job") {
    immutable("/spec/selector", "spec.selector");
    immutable("/spec/template", "spec.template");
    immutable("/spec/completions", "spec.completions");
  }
  // ValidateObjectMetaUpdate (objectmeta.go): name and uid.
  immutable("/metadata/name", "metadata.name");
  immutable("/metadata/uid", "metadata.uid");
  return causes;
}

}  // namespace ckms::op::test
