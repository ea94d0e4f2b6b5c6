// What the informers keep of nodes and pods: reconcile must decide on the trimmed objects
// exactly as on whole ones, and the cut must take what the operator never reads.

#include <catch2/catch.hpp>

#include "ckms/operator/cache_trim.hpp"
#include "ckms/operator/reconcile.hpp"
#include "ckms/operator/resources.hpp"
#include "fixtures.hpp"

using namespace ckms::op;
using nlohmann::json;

namespace {

const std::string k47 = "6.1.0-47-cloud-amd64";
const std::string k56 = "6.1.0-56-cloud-amd64";

json loader_pod(const KernelModule& module, const std::string& release, const std::string& node) {
  json p = test::load_json("pod-crashloop.json");
  p["metadata"]["name"] = loader_name(module, release) + "-" + node;
  p["metadata"]["labels"][std::string(label::kernel)] = kernel_key(release);
  p["metadata"]["labels"][std::string(label::version)] = version_key(module.spec.version);
  p["metadata"]["creationTimestamp"] = "2026-11-23T09:09:58Z";
  p["metadata"]["managedFields"] =
      json::array({{{"manager", "kubelet"}, {"fieldsV1", {{"f:status", json::object()}}}}});
  p["spec"]["nodeName"] = node;
  return p;
}

// Every shape of loader pod reconcile tells apart: crash-looping, ready, being deleted,
// pulling its image, failed, and a build pod that must not count.
std::vector<json> pods(const KernelModule& module) {
  std::vector<json> out{loader_pod(module, k47, "worker-a1"), loader_pod(module, k47, "worker-a2"),
                        loader_pod(module, k56, "worker-b1")};
  out[1]["status"]["conditions"][1]["status"] = "True";
  out[1]["status"]["containerStatuses"][0] = {{"name", "load"},
                                              {"ready", true},
                                              {"restartCount", 1},
                                              {"state", {{"running", {{"startedAt", "2026-11-23T09:10:02Z"}}}}}};
  json deleting = loader_pod(module, k47, "worker-a2");
  deleting["metadata"]["name"] = "old-pod";
  deleting["metadata"]["deletionTimestamp"] = "2026-11-23T09:11:00Z";
  out.push_back(deleting);
  json pulling = loader_pod(module, k56, "worker-b1");
  pulling["metadata"]["name"] = "pulling";
  pulling["status"]["containerStatuses"][0] = {{"name", "load"},
                                               {"ready", false},
                                               {"restartCount", 0},
                                               {"state", {{"waiting", {{"reason", "ImagePullBackOff"}}}}}};
  out.push_back(pulling);
  json failed = loader_pod(module, k56, "worker-b1");
  failed["metadata"]["name"] = "failed";
  failed["status"]["phase"] = "Failed";
  out.push_back(failed);
  json build = loader_pod(module, k47, "worker-a1");
  build["metadata"]["name"] = "build";
  build["metadata"]["labels"][std::string(label::component)] = "build";
  build["status"]["conditions"][1]["status"] = "True";
  out.push_back(build);
  return out;
}

}  // namespace

TEST_CASE("reconcile decides on trimmed nodes and pods as on whole ones", "[operator][cache]") {
  Observed whole = test::observed_cluster();
  whole.pods = pods(whole.module);
  whole.artifacts = {{k47, Availability::published}, {k56, Availability::published}};

  Observed trimmed = whole;
  for (auto& n : trimmed.nodes) n = trim_node(n);
  for (auto& p : trimmed.pods) p = trim_pod(p);
  OperatorSettings settings;
  const Desired expected = reconcile(whole, settings);
  const Desired got = reconcile(trimmed, settings);
  CHECK(got.status == expected.status);
  CHECK(got.daemon_sets == expected.daemon_sets);
  CHECK(got.events == expected.events);
  // The fixtures reach every branch that reads a pod or a node.
  CHECK(expected.status.loaded == 1);
  CHECK(expected.status.kernels.size() == 2);
  CHECK(expected.events.size() >= 2);

  SECTION("Jobs: a failed build reads the same from a trimmed Job") {
    whole.artifacts[k56] = Availability::missing;
    json failed = test::load_json("job-failed.json");
    const json wanted = reconcile(whole, settings).jobs.at(0);
    failed["metadata"] = wanted["metadata"];
    failed["metadata"]["managedFields"] = json::array({json::object()});
    failed["spec"]["template"] = wanted["spec"]["template"];
    whole.jobs = {failed};
    trimmed.artifacts = whole.artifacts;
    trimmed.jobs = {trim_job(failed)};
    const Desired from_whole = reconcile(whole, settings);
    const Desired from_trimmed = reconcile(trimmed, settings);
    CHECK(from_trimmed.status == from_whole.status);
    CHECK(from_trimmed.events == from_whole.events);
    CHECK(from_whole.status.condition(ConditionType::degraded)->reason == ConditionReason::build_failed);
    REQUIRE(from_trimmed.jobs.size() == from_whole.jobs.size());
    for (std::size_t i = 0; i < from_whole.jobs.size(); ++i)
      CHECK(spec_hash(from_trimmed.jobs[i]) == spec_hash(from_whole.jobs[i]));
    CHECK_FALSE(trimmed.jobs[0].contains("spec"));
    CHECK_FALSE(trimmed.jobs[0]["metadata"].contains("managedFields"));
  }

  SECTION("DaemonSets: the pinned nodes, hash and owner read the same from a trimmed one") {
    for (const auto& ds : expected.daemon_sets) {
      const json slim = trim_daemon_set(ds);
      CHECK(pinned_nodes(slim) == pinned_nodes(ds));
      CHECK(spec_hash(slim) == spec_hash(ds));
      CHECK(kernel_release_of(slim) == kernel_release_of(ds));
      CHECK(slim["metadata"]["labels"] == ds["metadata"]["labels"]);
      CHECK_FALSE(slim["spec"]["template"]["spec"].contains("containers"));
    }
  }

  // A node whose taint is not tolerated drops out on the trimmed copy too.
  for (auto* o : {&whole, &trimmed})
    o->nodes[0]["spec"]["taints"] = json::array({{{"key", "maintenance"}, {"effect", "NoSchedule"}}});
  trimmed.nodes[0] = trim_node(trimmed.nodes[0]);
  CHECK(reconcile(trimmed, settings).status == reconcile(whole, settings).status);
}

TEST_CASE("trimming takes what the operator never reads", "[operator][cache]") {
  const KernelModule module = parse_kernel_module(test::load_json("kernelmodule.json"));
  const json pod = loader_pod(module, k47, "worker-a1");
  const json small = trim_pod(pod);
  CHECK_FALSE(small["metadata"].contains("managedFields"));
  CHECK_FALSE(small["metadata"].contains("uid"));
  CHECK_FALSE(small["spec"].contains("containers"));
  CHECK_FALSE(small["status"]["containerStatuses"][0].contains("imageID"));
  CHECK(small["status"]["conditions"].size() == 1);  // Ready only
  CHECK(small["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]);
  CHECK(small.dump().size() < pod.dump().size());

  const json node = test::load_json("nodes.json")["items"][0];
  const json slim = trim_node(node);
  CHECK(slim["status"] == json{{"nodeInfo", {{"kernelVersion", node["status"]["nodeInfo"]["kernelVersion"]}}}});
  CHECK(slim["metadata"]["labels"] == node["metadata"]["labels"]);

  json job = test::load_json("job-failed.json");
  job["metadata"]["managedFields"] = json::array({json::object()});
  json expected = job;
  expected["metadata"].erase("managedFields");
  CHECK(without_managed_fields(job) == expected);
}
