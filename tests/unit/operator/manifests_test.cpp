// operator/deploy/: every manifest parses and has apiVersion/kind/metadata; the CRD's
// schema is a valid structural OpenAPI v3 schema that the example resource and the
// status the controller writes both satisfy; RBAC grants exactly what the code uses.

#include <catch2/catch.hpp>

#include <regex>
#include <set>

#include "ckms/operator/reconcile.hpp"
#include "ckms/operator/resources.hpp"
#include "fixtures.hpp"

using namespace ckms::op;
using nlohmann::json;

namespace {

std::vector<json> all_manifests() {
  std::vector<json> out;
  for (const auto& entry : std::filesystem::directory_iterator(test::deploy_dir())) {
    if (entry.path().extension() != ".yaml") continue;
    for (auto& doc : test::load_yaml_documents(entry.path())) {
      doc["__file"] = entry.path().filename().string();
      out.push_back(std::move(doc));
    }
  }
  return out;
}

json find(const std::vector<json>& docs, const std::string& kind, const std::string& name = "") {
  for (const auto& d : docs)
    if (d["kind"] == kind && (name.empty() || d["metadata"]["name"] == name)) return d;
  FAIL("no " << kind << " " << name << " in operator/deploy");
  return {};
}

json crd_schema() {
  const json crd = find(all_manifests(), "CustomResourceDefinition");
  return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
}

const std::set<std::string> kTypes{"object", "array", "string", "integer", "number", "boolean"};
const std::set<std::string> kKeywords{"type",       "description",
                                      "properties", "required",
                                      "items",      "additionalProperties",
                                      "enum",       "pattern",
                                      "default",    "format",
                                      "minLength",  "maxLength",
                                      "minimum",    "maximum",
                                      "minItems",   "maxItems",
                                      "oneOf",      "anyOf",
                                      "allOf",      "not",
                                      "nullable",   "x-kubernetes-int-or-string"};
const std::set<std::string> kJunctorKeywords{"required", "pattern", "enum",     "minLength", "maxLength",
                                             "minimum",  "maximum", "minItems", "maxItems"};

bool has_type(const json& value, const std::string& type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  return false;
}

// The structural schema rules of apiextensions.k8s.io/v1, and OpenAPI v3 keyword sanity.
void check_structural(const json& s, const std::string& at, bool in_junctor, std::vector<std::string>& problems) {
  const auto problem = [&](const std::string& what) { problems.push_back(at + ": " + what); };
  if (!s.is_object()) return problem("a schema must be an object");
  for (const auto& [key, value] : s.items()) {
    if (!kKeywords.contains(key)) problem("unknown keyword " + key);
    if (in_junctor && !kJunctorKeywords.contains(key)) problem(key + " is not allowed inside oneOf/anyOf/allOf/not");
  }
  if (in_junctor) return;
  // An IntOrString has no type of its own (apiextensions' structural schema rules).
  if (s.value("x-kubernetes-int-or-string", false)) {
    if (s.contains("type")) problem("x-kubernetes-int-or-string with a type");
    return;
  }
  if (!s.contains("type") || !s["type"].is_string() || !kTypes.contains(s["type"].get<std::string>()))
    return problem("needs a type of " + std::string("object, array, string, integer, number, boolean"));
  const std::string type = s["type"];
  if (s.contains("properties")) {
    if (type != "object") problem("properties on a non-object");
    if (s.contains("additionalProperties")) problem("properties and additionalProperties together");
    for (const auto& [name, sub] : s["properties"].items()) check_structural(sub, at + "." + name, false, problems);
  }
  if (s.contains("required")) {
    for (const auto& r : s["required"])
      if (!s.contains("properties") || !s["properties"].contains(r.get<std::string>()))
        problem("required " + r.get<std::string>() + " is not a property");
  }
  if (s.contains("additionalProperties") && s["additionalProperties"].is_object())
    check_structural(s["additionalProperties"], at + ".*", false, problems);
  if (type == "array") {
    if (!s.contains("items"))
      problem("array without items");
    else
      check_structural(s["items"], at + "[]", false, problems);
  }
  for (const char* junctor : {"oneOf", "anyOf", "allOf"})
    if (s.contains(junctor))
      for (const auto& sub : s[junctor]) check_structural(sub, at + "(" + junctor + ")", true, problems);
  if (s.contains("enum"))
    for (const auto& v : s["enum"])
      if (!has_type(v, type)) problem("enum value " + v.dump() + " is not a " + type);
  if (s.contains("default") && !has_type(s["default"], type)) problem("default is not a " + type);
  if (s.contains("pattern")) {
    try {
      std::regex(s["pattern"].get<std::string>());
    } catch (const std::regex_error&) {
      problem("pattern does not compile");
    }
  }
}

// An instance against a schema: types, required, properties (unknown fields are errors
// here, stricter than the API server's pruning, to catch typos), enum, pattern, oneOf.
void validate(const json& value, const json& s, const std::string& at, std::vector<std::string>& problems) {
  const auto problem = [&](const std::string& what) { problems.push_back(at + ": " + what); };
  if (s.contains("type") && !has_type(value, s["type"])) return problem("is not a " + s["type"].get<std::string>());
  if (s.value("x-kubernetes-int-or-string", false) && !value.is_number_integer() && !value.is_string())
    return problem("is neither an integer nor a string");
  if (s.contains("required"))
    for (const auto& r : s["required"])
      if (!value.contains(r.get<std::string>())) problem("missing required " + r.get<std::string>());
  if (value.is_object() && s.contains("properties")) {
    for (const auto& [key, sub] : value.items()) {
      if (!s["properties"].contains(key))
        problem("unknown field " + key);
      else
        validate(sub, s["properties"][key], at + "." + key, problems);
    }
  }
  if (value.is_object() && s.contains("additionalProperties") && s["additionalProperties"].is_object())
    for (const auto& [key, sub] : value.items()) validate(sub, s["additionalProperties"], at + "." + key, problems);
  if (value.is_array() && s.contains("items"))
    for (std::size_t i = 0; i < value.size(); ++i)
      validate(value[i], s["items"], at + "[" + std::to_string(i) + "]", problems);
  if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), value) == s["enum"].end())
    problem("not one of " + s["enum"].dump());
  if (s.contains("pattern") && value.is_string() &&
      !std::regex_search(value.get<std::string>(), std::regex(s["pattern"].get<std::string>())))
    problem("does not match " + s["pattern"].get<std::string>());
  if (s.contains("oneOf")) {
    int matching = 0;
    for (const auto& sub : s["oneOf"]) {
      std::vector<std::string> sub_problems;
      validate(value, sub, at, sub_problems);
      matching += sub_problems.empty();
    }
    if (matching != 1) problem("matches " + std::to_string(matching) + " of oneOf, not exactly 1");
  }
}

std::vector<std::string> problems_of(const json& value) {
  std::vector<std::string> problems;
  validate(value, crd_schema(), "", problems);
  return problems;
}

}  // namespace

TEST_CASE("every manifest is a Kubernetes object", "[operator][manifests]") {
  const auto docs = all_manifests();
  std::set<std::string> files;
  for (const auto& d : docs) {
    INFO(d["__file"]);
    files.insert(d["__file"]);
    CHECK(d.contains("apiVersion"));
    CHECK(d["apiVersion"].is_string());
    CHECK(d.contains("kind"));
    REQUIRE(d.contains("metadata"));
    CHECK(d["metadata"]["name"].is_string());
    if (d["kind"] != "Namespace" && d["kind"] != "CustomResourceDefinition" && d["kind"] != "ClusterRole" &&
        d["kind"] != "ClusterRoleBinding")
      CHECK(d["metadata"]["namespace"] == "ckms-system");
  }
  CHECK(files ==
        std::set<std::string>{"crd.yaml", "deployment.yaml", "kernelmodule.yaml", "namespace.yaml", "rbac.yaml"});
}

TEST_CASE("the CRD matches the resource the code reads", "[operator][manifests]") {
  const json crd = find(all_manifests(), "CustomResourceDefinition");
  CHECK(crd["metadata"]["name"] ==
        std::string(resource::kernel_modules.plural) + "." + std::string(resource::kernel_modules.group));
  CHECK(crd["spec"]["group"] == resource::kernel_modules.group);
  CHECK(crd["spec"]["names"]["kind"] == resource::kernel_modules.kind);
  CHECK(crd["spec"]["names"]["plural"] == resource::kernel_modules.plural);
  CHECK(crd["spec"]["scope"] == "Namespaced");
  const json& version = crd["spec"]["versions"][0];
  CHECK(version["name"] == resource::kernel_modules.version);
  CHECK(version["storage"] == true);
  CHECK(version["subresources"]["status"] == json::object());
}

TEST_CASE("the CRD schema is structural OpenAPI v3", "[operator][manifests]") {
  const json schema = crd_schema();
  std::vector<std::string> problems;
  check_structural(schema, "openAPIV3Schema", false, problems);
  CHECK(problems == std::vector<std::string>{});
  CHECK(schema["properties"]["metadata"] == json{{"type", "object"}});

  // The checker itself catches what the API server would refuse.
  std::vector<std::string> bad;
  check_structural({{"type", "object"}, {"properties", {{"a", {{"description", "no type"}}}}}, {"required", {"b"}}},
                   "x", false, bad);
  check_structural({{"type", "array"}}, "y", false, bad);
  check_structural({{"type", "string"}, {"oneOf", {{{"type", "string"}}}}}, "z", false, bad);
  CHECK(bad.size() == 4);
}

TEST_CASE("printer columns point at fields of the schema", "[operator][manifests]") {
  const json crd = find(all_manifests(), "CustomResourceDefinition");
  const json schema = crd_schema();
  for (const auto& column : crd["spec"]["versions"][0]["additionalPrinterColumns"]) {
    const std::string path = column["jsonPath"];
    INFO(path);
    if (path == ".metadata.creationTimestamp") continue;
    // Split ".a.b[?(@.x=="y")].c" on dots outside brackets.
    std::vector<std::string> segments{""};
    int depth = 0;
    for (const char c : path.substr(1)) {
      if (c == '[') ++depth;
      if (c == ']') --depth;
      if (c == '.' && depth == 0)
        segments.emplace_back();
      else
        segments.back() += c;
    }
    json s = schema;
    for (const auto& segment : segments) {
      const auto bracket = segment.find('[');
      const std::string name = segment.substr(0, bracket);
      REQUIRE(s["properties"].contains(name));
      s = s["properties"][name];
      if (bracket != std::string::npos) s = s["items"];
    }
    CHECK(s["type"] == column["type"]);
  }
}

TEST_CASE("the example KernelModule satisfies the schema and the controller", "[operator][manifests]") {
  const json example = find(all_manifests(), "KernelModule");
  json clean = example;
  clean.erase("__file");
  CHECK(problems_of(clean) == std::vector<std::string>{});
  const KernelModule km = parse_kernel_module(clean);
  CHECK(km.spec.module_name == "ckms-hello");

  // And the schema refuses what the controller refuses.
  json both = clean;
  both["spec"]["source"]["image"] = "registry.example/src:1";
  CHECK_FALSE(problems_of(both).empty());
  json no_release = clean;
  no_release["spec"]["buildImageTemplate"] = "registry.example/kb:latest";
  CHECK_FALSE(problems_of(no_release).empty());
  json typo = clean;
  typo["spec"]["nodeSelectr"] = json::object();
  CHECK_FALSE(problems_of(typo).empty());
}

TEST_CASE("the status the controller writes satisfies the schema", "[operator][manifests]") {
  Observed o = test::observed_cluster();
  o.artifacts = {{"6.1.0-47-cloud-amd64", Availability::published}, {"6.1.0-56-cloud-amd64", Availability::missing}};
  json object = test::load_json("kernelmodule.json");
  object["status"] = to_json(reconcile(o, OperatorSettings{}).status);
  object["metadata"] = json::object();
  CHECK(problems_of(object) == std::vector<std::string>{});
}

TEST_CASE("RBAC grants exactly what the operator uses", "[operator][manifests]") {
  const auto docs = all_manifests();
  std::map<std::pair<std::string, std::string>, std::set<std::string>> granted, cluster_granted;
  for (const auto& d : docs) {
    if (d["kind"] != "Role" && d["kind"] != "ClusterRole") continue;
    auto& target = d["kind"] == "Role" ? granted : cluster_granted;
    for (const auto& rule : d["rules"])
      for (const auto& group : rule["apiGroups"])
        for (const auto& res : rule["resources"])
          for (const auto& verb : rule["verbs"]) target[{group, res}].insert(verb.get<std::string>());
  }
  std::map<std::pair<std::string, std::string>, std::set<std::string>> needed, cluster_needed;
  for (const auto& p : required_permissions()) {
    auto& target = p.cluster_scoped ? cluster_needed : needed;
    target[{p.api_group, p.resource}].insert(p.verbs.begin(), p.verbs.end());
  }
  CHECK(granted == needed);
  CHECK(cluster_granted == cluster_needed);
  for (const auto& [key, verbs] : granted) CHECK_FALSE(verbs.contains("*"));

  // Bindings name the operator's ServiceAccount, the one the Deployment runs as.
  const json deployment = find(docs, "Deployment", "ckms-operator");
  const std::string account = deployment["spec"]["template"]["spec"]["serviceAccountName"];
  CHECK(find(docs, "ServiceAccount", account)["metadata"]["namespace"] == "ckms-system");
  for (const auto& d : docs) {
    if (d["kind"] != "RoleBinding" && d["kind"] != "ClusterRoleBinding") continue;
    CHECK(d["subjects"][0]["name"] == account);
    CHECK(d["subjects"][0]["namespace"] == "ckms-system");
    const json role = find(docs, d["roleRef"]["kind"], d["roleRef"]["name"]);
    CHECK(role["kind"] == d["roleRef"]["kind"]);
  }
  const json args = deployment["spec"]["template"]["spec"]["containers"][0]["args"];
  CHECK(std::find(args.begin(), args.end(), "--ckms-image") != args.end());
}
