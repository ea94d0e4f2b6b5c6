// The reconcile function on real Kubernetes JSON: nodes on several kernels, a kernel
// upgrade, a failed Job, a crash-looping loader, an unreachable registry, a deleted resource.

#include <catch2/catch.hpp>

#include "ckms/operator/reconcile.hpp"
#include "ckms/operator/resources.hpp"
#include "fixtures.hpp"

using namespace ckms::op;
using nlohmann::json;

namespace {

const std::string k47 = "6.1.0-47-cloud-amd64";
const std::string k56 = "6.1.0-56-cloud-amd64";

OperatorSettings settings() {
  OperatorSettings s;
  s.ckms_image = "registry.example/ckms/ckms:0.1.0";
  return s;
}

Observed observe() { return test::observed_cluster(); }

json& node_named(Observed& o, const std::string& name) {
  for (auto& n : o.nodes)
    if (n["metadata"]["name"] == name) return n;
  throw std::runtime_error("no node " + name);
}

const KernelStatus& kernel(const Desired& d, const std::string& release) {
  for (const auto& k : d.status.kernels)
    if (k.release == release) return k;
  throw std::runtime_error("no kernel " + release);
}

std::string condition(const Desired& d, const std::string& type) {
  const auto known = condition_type(type);
  REQUIRE(known.has_value());
  const Condition* c = d.status.condition(*known);
  REQUIRE(c != nullptr);
  return c->status + "/" + std::string(to_string(c->reason));
}

// What the API server would hand back for an object we created: ours plus server fields.
json as_stored(json object, const std::string& resource_version) {
  object["metadata"]["uid"] = "11111111-2222-3333-4444-" + resource_version;
  object["metadata"]["resourceVersion"] = resource_version;
  object["metadata"]["creationTimestamp"] = "2026-11-23T09:00:00Z";
  object["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst";
  return object;
}

json pod(const Observed& o, const std::string& release, const std::string& node, bool ready) {
  json p = test::load_json("pod-crashloop.json");
  p["metadata"]["name"] = loader_name(o.module, release) + "-" + node;
  p["metadata"]["labels"][std::string(label::kernel)] = kernel_key(release);
  p["metadata"]["labels"][std::string(label::version)] = version_key(o.module.spec.version);
  p["spec"]["nodeName"] = node;
  if (ready) {
    p["status"]["conditions"][1]["status"] = "True";
    p["status"]["containerStatuses"][0] = {{"name", "load"},
                                           {"ready", true},
                                           {"restartCount", 0},
                                           {"state", {{"running", {{"startedAt", "2026-11-23T09:10:02Z"}}}}}};
  }
  return p;
}

}  // namespace

TEST_CASE("nodes are grouped by kernel; unselected and untolerated nodes are left out", "[operator][reconcile]") {
  Observed o = observe();
  const auto groups = nodes_by_kernel(o.module.spec, o.nodes);
  REQUIRE(groups.size() == 2);
  CHECK(groups.at(k47) == std::vector<std::string>{"worker-a1", "worker-a2"});
  CHECK(groups.at(k56) == std::vector<std::string>{"worker-b1"});

  o.module.spec.tolerations = json::array(
      {{{"key", "node-role.kubernetes.io/control-plane"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}});
  CHECK(nodes_by_kernel(o.module.spec, o.nodes).at(k47) ==
        std::vector<std::string>{"control-plane", "worker-a1", "worker-a2"});
  o.module.spec.node_selector.clear();
  CHECK(nodes_by_kernel(o.module.spec, o.nodes).size() == 3);  // gpu-1's kernel too
}

TEST_CASE("tolerations follow the scheduler's matching rules", "[operator][reconcile]") {
  const json taint = {{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoExecute"}};
  CHECK(tolerates(json::array({{{"key", "dedicated"}, {"value", "gpu"}}}), taint));
  CHECK(tolerates(json::array({{{"key", "dedicated"}, {"operator", "Exists"}, {"effect", "NoExecute"}}}), taint));
  CHECK(tolerates(json::array({{{"operator", "Exists"}}}), taint));
  CHECK_FALSE(tolerates(json::array({{{"key", "dedicated"}, {"value", "cpu"}}}), taint));
  CHECK_FALSE(
      tolerates(json::array({{{"key", "dedicated"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}}), taint));
  CHECK_FALSE(tolerates(json::array(), taint));
}

TEST_CASE("several kernels: a loader where the artifact exists, a build where it does not", "[operator][reconcile]") {
  Observed o = observe();
  o.artifacts = {{k47, Availability::published}, {k56, Availability::missing}};
  const Desired d = reconcile(o, settings());

  REQUIRE(d.daemon_sets.size() == 1);
  CHECK(kernel_release_of(d.daemon_sets[0]) == k47);
  CHECK(pinned_nodes(d.daemon_sets[0]) == std::vector<std::string>{"worker-a1", "worker-a2"});
  REQUIRE(d.jobs.size() == 1);
  CHECK(kernel_release_of(d.jobs[0]) == k56);
  CHECK(d.jobs[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/ckms/kernel-build:" + k56);

  CHECK(kernel(d, k47).nodes == 2);
  CHECK(kernel(d, k47).built == 2);
  CHECK(kernel(d, k47).loaded == 0);
  CHECK(kernel(d, k47).phase == kernel_phase("Loading"));
  CHECK(kernel(d, k56).nodes == 1);
  CHECK(kernel(d, k56).built == 0);
  CHECK(kernel(d, k56).phase == kernel_phase("Building"));
  CHECK(d.status.nodes == 3);
  CHECK(d.status.observed_generation == 3);
  CHECK(condition(d, "Building") == "True/BuildsRunning");
  CHECK(condition(d, "Ready") == "False/NotAllNodesLoaded");
  CHECK(condition(d, "Degraded") == "False/AsExpected");
  CHECK(d.events.empty());

  SECTION("loaded everywhere once every loader pod is ready") {
    o.artifacts[k56] = Availability::published;
    for (const auto& [release, node] :
         std::vector<std::pair<std::string, std::string>>{{k47, "worker-a1"}, {k47, "worker-a2"}, {k56, "worker-b1"}})
      o.pods.push_back(pod(o, release, node, true));
    const Desired all = reconcile(o, settings());
    CHECK(all.jobs.empty());
    CHECK(all.daemon_sets.size() == 2);
    CHECK(all.status.loaded == 3);
    CHECK(kernel(all, k56).phase == kernel_phase("Loaded"));
    CHECK(condition(all, "Ready") == "True/AllNodesLoaded");
    CHECK(condition(all, "Building") == "False/NoBuilds");
  }
}

TEST_CASE("a kernel upgrade moves a node from one loader to the other", "[operator][reconcile]") {
  Observed o = observe();
  o.artifacts = {{k47, Availability::published}, {k56, Availability::published}};
  const Desired before = reconcile(o, settings());
  for (const auto& ds : before.daemon_sets) o.daemon_sets.push_back(as_stored(ds, "500"));

  node_named(o, "worker-a2")["status"]["nodeInfo"]["kernelVersion"] = k56;
  const Desired after = reconcile(o, settings());
  REQUIRE(after.daemon_sets.size() == 2);
  for (const auto& ds : after.daemon_sets) {
    const auto& old = kernel_release_of(ds) == k47 ? o.daemon_sets[0] : o.daemon_sets[1];
    CHECK(spec_hash(ds) == spec_hash(old));  // same spec: an update of the pinned list, no restart
    if (kernel_release_of(ds) == k47)
      CHECK(pinned_nodes(ds) == std::vector<std::string>{"worker-a1"});
    else
      CHECK(pinned_nodes(ds) == std::vector<std::string>{"worker-a2", "worker-b1"});
  }

  SECTION("a new kernel without artifact gets a build, the old kernel's loader goes") {
    for (auto& n : o.nodes) n["status"]["nodeInfo"]["kernelVersion"] = "6.1.0-57-cloud-amd64";
    o.artifacts = {{"6.1.0-57-cloud-amd64", Availability::missing}};
    const Desired upgraded = reconcile(o, settings());
    CHECK(upgraded.daemon_sets.empty());
    REQUIRE(upgraded.jobs.size() == 1);
    CHECK(kernel_release_of(upgraded.jobs[0]) == "6.1.0-57-cloud-amd64");
    REQUIRE(upgraded.status.kernels.size() == 1);
    CHECK(upgraded.status.kernels[0].nodes == 3);
  }
}

TEST_CASE("a failed build Job is reported, kept, and not retried with the same spec", "[operator][reconcile]") {
  Observed o = observe();
  o.artifacts = {{k47, Availability::published}, {k56, Availability::missing}};
  const json desired_job = reconcile(o, settings()).jobs.at(0);
  json failed = test::load_json("job-failed.json");
  failed["metadata"]["name"] = desired_job["metadata"]["name"];
  failed["metadata"]["labels"] = desired_job["metadata"]["labels"];
  failed["metadata"]["annotations"] = desired_job["metadata"]["annotations"];
  failed["spec"]["template"] = desired_job["spec"]["template"];
  o.jobs.push_back(failed);

  const Desired d = reconcile(o, settings());
  REQUIRE(d.jobs.size() == 1);
  CHECK(d.jobs[0]["metadata"]["name"] == failed["metadata"]["name"]);
  CHECK(spec_hash(d.jobs[0]) == spec_hash(failed));
  CHECK(kernel(d, k56).phase == kernel_phase("BuildFailed"));
  CHECK(kernel(d, k56).failed == 1);
  CHECK(condition(d, "Degraded") == "True/BuildFailed");
  CHECK(condition(d, "Building") == "False/NoBuilds");
  REQUIRE(d.events.size() == 1);
  CHECK(d.events[0].type == "Warning");
  CHECK(d.events[0].reason == "BuildFailed");
  CHECK_THAT(d.events[0].message, Catch::Contains(k56) && Catch::Contains("backoff limit"));

  SECTION("a changed spec makes a new Job (another hash), and the kernel is building again") {
    o.module.spec.version = "1.0.1";
    const Desired changed = reconcile(o, settings());
    CHECK(spec_hash(changed.jobs.at(0)) != spec_hash(failed));
    CHECK(kernel(changed, k56).phase == kernel_phase("Building"));
    CHECK(changed.events.empty());
  }
}

TEST_CASE("a crash-looping loader counts as failed with the loader's message", "[operator][reconcile]") {
  Observed o = observe();
  o.artifacts = {{k47, Availability::published}, {k56, Availability::published}};
  o.pods = {pod(o, k47, "worker-a1", true), pod(o, k47, "worker-a2", false), pod(o, k56, "worker-b1", true)};
  json build_pod = pod(o, k47, "worker-a2", true);  // a running build is ready too, but loads nothing
  build_pod["metadata"]["labels"][std::string(label::component)] = "build";
  o.pods.push_back(build_pod);
  const Desired d = reconcile(o, settings());
  CHECK(kernel(d, k47).loaded == 1);
  CHECK(kernel(d, k47).failed == 1);
  CHECK(kernel(d, k56).loaded == 1);
  CHECK(condition(d, "Degraded") == "True/LoadFailed");
  REQUIRE(d.events.size() == 1);
  CHECK_THAT(d.events[0].message, Catch::Contains("worker-a2") && Catch::Contains("not from a trusted certificate"));

  // A pod left on a node that moved to another kernel does not count for either.
  node_named(o, "worker-a1")["status"]["nodeInfo"]["kernelVersion"] = k56;
  const Desired moved = reconcile(o, settings());
  CHECK(kernel(moved, k47).loaded == 0);
  CHECK(kernel(moved, k56).loaded == 1);
  CHECK(kernel(moved, k56).nodes == 2);
}

TEST_CASE("no answer from the registry changes nothing that exists", "[operator][reconcile]") {
  Observed o = observe();
  o.artifacts = {{k47, Availability::published}, {k56, Availability::missing}};
  const Desired first = reconcile(o, settings());
  o.daemon_sets.push_back(as_stored(first.daemon_sets.at(0), "600"));
  o.jobs.push_back(as_stored(first.jobs.at(0), "601"));

  o.artifacts = {{k47, Availability::unknown}, {k56, Availability::unknown}};
  const Desired d = reconcile(o, settings());
  REQUIRE(d.daemon_sets.size() == 1);
  CHECK(spec_hash(d.daemon_sets[0]) == spec_hash(o.daemon_sets[0]));
  REQUIRE(d.jobs.size() == 1);
  CHECK(d.jobs[0] == o.jobs[0]);
  CHECK(kernel(d, k56).phase == kernel_phase("Unknown"));
  CHECK(condition(d, "Degraded") == "True/RegistryUnreachable");

  o.jobs.clear();
  CHECK(reconcile(o, settings()).jobs.empty());  // never start a build on a guess
}

TEST_CASE("reconciling twice gives the same status: a restart writes nothing", "[operator][reconcile]") {
  Observed o = observe();
  o.artifacts = {{k47, Availability::published}, {k56, Availability::missing}};
  const Desired first = reconcile(o, settings());
  o.module.status = status_from_json(to_json(first.status));  // as written and read back
  o.now = "2026-11-23T11:30:00Z";
  const Desired second = reconcile(o, settings());
  CHECK(second.status == first.status);
  CHECK(second.jobs == first.jobs);
  CHECK(second.daemon_sets == first.daemon_sets);

  // A condition that flips gets the new time; the others keep theirs.
  o.artifacts[k56] = Availability::published;
  const Desired third = reconcile(o, settings());
  CHECK(third.status.condition(ConditionType::building)->last_transition_time == "2026-11-23T11:30:00Z");
  CHECK(third.status.condition(ConditionType::degraded)->last_transition_time == "2026-11-23T10:00:00Z");
}

TEST_CASE("a deleted resource: nothing desired, and what it left behind is an orphan", "[operator][reconcile]") {
  Observed o = observe();
  o.artifacts = {{k47, Availability::published}, {k56, Availability::missing}};
  const Desired live = reconcile(o, settings());

  json deleting = test::load_json("kernelmodule.json");
  deleting["metadata"]["deletionTimestamp"] = "2026-11-23T12:00:00Z";
  o.module = parse_kernel_module(deleting);
  const Desired d = reconcile(o, settings());
  CHECK(d.jobs.empty());
  CHECK(d.daemon_sets.empty());

  std::vector<json> owned{as_stored(live.jobs.at(0), "700"), as_stored(live.daemon_sets.at(0), "701")};
  CHECK(orphans(owned, {{"ckms-hello", o.module.uid}}).empty());
  CHECK(orphans(owned, {}).size() == 2);  // the resource is gone
  CHECK(orphans(owned, {{"ckms-hello", "another-incarnation"}}).size() == 2);
  CHECK(orphans(owned, {{"other", "x"}}).size() == 2);
}
