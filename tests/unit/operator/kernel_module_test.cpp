// The KernelModule spec as users write it, and the errors they get for mistakes.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/operator/kernel_module.hpp"
#include "fixtures.hpp"

using namespace ckms::op;
using nlohmann::json;

TEST_CASE("a complete KernelModule parses into its spec", "[operator][kernelmodule]") {
  const KernelModule km = parse_kernel_module(test::load_json("kernelmodule.json"));
  CHECK(km.name == "ckms-hello");
  CHECK(km.namespace_name == "ckms-system");
  CHECK(km.generation == 3);
  CHECK_FALSE(km.deleting);
  CHECK(km.spec.repository == "registry.example/ckms/ckms-hello");
  CHECK(km.spec.version == "1.0.0");
  CHECK(km.spec.source.artifact == "registry.example/ckms/ckms-hello-source:1.0.0");
  CHECK_FALSE(km.spec.source.image);
  CHECK(km.spec.signing_secret == "hello-signing");
  REQUIRE(km.spec.trusted_certificate);
  CHECK(km.spec.trusted_certificate->config_map == "hello-trust");
  CHECK(km.spec.parameters == std::map<std::string, std::string>{{"greeting", "world"}, {"repeat", "2"}});
  CHECK(km.spec.remove_in_tree == std::vector<std::string>{"hello_old"});
  CHECK(km.spec.image_pull_secrets == std::vector<std::string>{"regcred"});
  CHECK(km.spec.registry.auth_secret == "regcred");
}

TEST_CASE("defaults: module name from the repository, source path /src", "[operator][kernelmodule]") {
  json object = test::load_json("kernelmodule.json");
  object["spec"].erase("moduleName");
  object["spec"]["source"] = {{"image", "registry.example/ckms/hello-src:1"}};
  const KernelModule km = parse_kernel_module(object);
  CHECK(km.spec.module_name == "ckms-hello");
  CHECK(km.spec.source.path == "/src");
  CHECK(km.spec.source.image == "registry.example/ckms/hello-src:1");
}

TEST_CASE("spec mistakes name the field", "[operator][kernelmodule]") {
  const auto error_for = [](const std::function<void(json&)>& change) {
    json object = test::load_json("kernelmodule.json");
    change(object["spec"]);
    try {
      parse_kernel_module(object);
    } catch (const ckms::Error& e) {
      CHECK(e.kind() == ckms::ErrorKind::usage);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(error_for([](json& s) { s.erase("repository"); }), Catch::Contains("spec.repository: is required"));
  CHECK_THAT(error_for([](json& s) { s["repository"] = "registry.example/ckms/hello:1.0"; }),
             Catch::Contains("without tag"));
  CHECK_THAT(error_for([](json& s) { s["version"] = "1.0+dirty"; }), Catch::Contains("spec.version"));
  CHECK_THAT(error_for([](json& s) { s["digest"] = "sha256:abc"; }), Catch::Contains("spec.digest"));
  CHECK_THAT(error_for([](json& s) { s["buildImageTemplate"] = "registry.example/kb:latest"; }),
             Catch::Contains("has no {release}"));
  CHECK_THAT(error_for([](json& s) { s["source"]["image"] = "x/y:1"; }), Catch::Contains("exactly one"));
  CHECK_THAT(error_for([](json& s) { s["source"] = json::object(); }), Catch::Contains("exactly one"));
  CHECK_THAT(error_for([](json& s) { s["parameters"]["bad-name"] = "1"; }), Catch::Contains("bad-name"));
  CHECK_THAT(error_for([](json& s) { s["parameters"]["greeting"] = 1; }), Catch::Contains("spec.parameters.greeting"));
  CHECK_THAT(error_for([](json& s) { s["removeInTree"] = {"ok", "rm -rf"}; }), Catch::Contains("spec.removeInTree"));
  CHECK_THAT(error_for([](json& s) { s["signingSecret"] = "Not_A_Name"; }), Catch::Contains("spec.signingSecret"));
  CHECK_THAT(error_for([](json& s) { s["trustedCertificate"]["key"] = "../etc/shadow"; }),
             Catch::Contains("plain key name"));
  CHECK_THAT(error_for([](json& s) { s["nodeSelector"] = {{"a", true}}; }), Catch::Contains("spec.nodeSelector.a"));
}

TEST_CASE("what kube-apiserver would refuse in the workloads is refused in the spec", "[operator][kernelmodule]") {
  const auto error_for = [](const std::function<void(json&)>& change) -> std::string {
    json object = test::load_json("kernelmodule.json");
    change(object);
    try {
      parse_kernel_module(object);
    } catch (const ckms::Error& e) {
      return e.what();
    }
    return "accepted";
  };
  const auto toleration = [&](const json& t) {
    return error_for([&](json& o) { o["spec"]["tolerations"] = json::array({t}); });
  };
  CHECK_THAT(toleration({{"key", "k"}, {"operator", "Exists"}, {"value", "v"}}),
             Catch::Contains("spec.tolerations[0].value: must be empty when operator is Exists"));
  CHECK_THAT(toleration({{"key", "k"}, {"operator", "Exists"}, {"effect", "NoSchedule"}, {"tolerationSeconds", 30}}),
             Catch::Contains("needs effect NoExecute"));
  CHECK_THAT(toleration({{"operator", "Equal"}, {"value", "v"}}), Catch::Contains("must be Exists when key is empty"));
  CHECK_THAT(toleration({{"key", "k"}, {"operator", "In"}}), Catch::Contains("must be Equal or Exists"));
  CHECK_THAT(toleration({{"key", "k"}, {"value", std::string(64, 'v')}}), Catch::Contains("is not a label value"));
  CHECK_THAT(toleration({{"key", "bad key"}, {"operator", "Exists"}}), Catch::Contains("is not a label key"));
  CHECK_THAT(toleration({{"key", "k"}, {"effect", "Sometimes"}}), Catch::Contains("spec.tolerations[0].effect"));
  CHECK(toleration({{"key", "k"}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", 30}}) ==
        "accepted");
  CHECK(toleration({{"operator", "Exists"}}) == "accepted");
  CHECK_THAT(error_for([](json& o) {
               o["spec"]["nodeSelector"] = {{"kernel", std::string(64, 'x')}};
             }),
             Catch::Contains("spec.nodeSelector.kernel"));
  CHECK_THAT(error_for([](json& o) {
               o["spec"]["nodeSelector"] = {{"bad key", "x"}};
             }),
             Catch::Contains("not a label key"));
  CHECK_THAT(error_for([](json& o) { o["metadata"]["name"] = std::string(64, 'm'); }),
             Catch::Contains("metadata.name: must be at most 63 characters"));
  CHECK(error_for([](json& o) { o["metadata"]["name"] = std::string(63, 'm'); }) == "accepted");
}

TEST_CASE("status survives a round trip through JSON", "[operator][kernelmodule]") {
  KernelModuleStatus status;
  status.observed_generation = 7;
  status.nodes = 3;
  status.loaded = 2;
  status.conditions = {{ConditionType::ready, "False", ConditionReason::not_all_nodes_loaded, "2 of 3 nodes loaded",
                        "2026-11-23T10:00:00Z", 7}};
  status.kernels = {{"6.1.0-47-cloud-amd64", 2, 2, 2, 0, KernelPhase::loaded},
                    {"6.1.0-56-cloud-amd64", 1, 0, 0, 1, KernelPhase::build_failed}};
  CHECK(status_from_json(to_json(status)) == status);
  CHECK(to_json(status)["kernels"][1]["phase"] == "BuildFailed");
  CHECK(to_json(status)["conditions"][0]["type"] == "Ready");
  CHECK(to_json(status)["conditions"][0]["reason"] == "NotAllNodesLoaded");
  CHECK(status_from_json(json::object()) == KernelModuleStatus{});
}

TEST_CASE("object names follow RFC 1123", "[operator][kernelmodule]") {
  CHECK(is_dns_label("ckms-hello"));
  CHECK_FALSE(is_dns_label("-x"));
  CHECK_FALSE(is_dns_label("Hello"));
  CHECK_FALSE(is_dns_label(std::string(64, 'a')));
  CHECK(is_dns_subdomain("hello.signing"));
  CHECK_FALSE(is_dns_subdomain("hello..signing"));
  CHECK(is_qualified_name("ckms.io/kernel"));
  CHECK_FALSE(is_qualified_name("ckms.io/"));
  CHECK_FALSE(is_qualified_name("-x"));
  CHECK(is_label_value(""));
  CHECK_FALSE(is_label_value("a_"));
}
