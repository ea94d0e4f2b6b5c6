// status.nodeStatus: per node, what its loader pod reports (ready, or the termination
// message ckms left), or where its kernel's build stands.

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "ckms/operator/loader_pods.hpp"
#include "ckms/operator/reconcile.hpp"
#include "ckms/operator/resources.hpp"
#include "fixtures.hpp"

using namespace ckms::op;
using nlohmann::json;

namespace {

const std::string k47 = "6.1.0-47-cloud-amd64";
const std::string k56 = "6.1.0-56-cloud-amd64";

Observed observe() { return test::observed_cluster(); }

// pod-crashloop.json: a loader that keeps failing with ckms's message, on `node`.
json loader_pod(const Observed& o, const std::string& release, const std::string& node) {
  json p = test::load_json("pod-crashloop.json");
  p["metadata"]["name"] = loader_name(o.module, release) + "-" + node;
  p["metadata"]["labels"][std::string(label::kernel)] = kernel_key(release);
  p["metadata"]["labels"][std::string(label::version)] = version_key(o.module.spec.version);
  p["metadata"]["creationTimestamp"] = "2026-11-23T09:09:58Z";
  p["spec"]["nodeName"] = node;
  return p;
}

json ready(json pod) {
  pod["status"]["conditions"][1]["status"] = "True";
  pod["status"]["conditions"][1]["lastTransitionTime"] = "2026-11-23T09:10:05Z";
  pod["status"]["containerStatuses"][0] = {{"name", "load"}, {"ready", true}, {"restartCount", 0}};
  return pod;
}

const NodeStatus& on(const Desired& d, const std::string& node) {
  for (const auto& s : d.status.node_statuses)
    if (s.node == node) return s;
  throw std::runtime_error("no status for node " + node);
}

}  // namespace

TEST_CASE("node status: loaded, failed with the loader's words, or waiting for a pod", "[operator][nodestatus]") {
  Observed o = observe();
  o.artifacts = {{k47, Availability::published}, {k56, Availability::published}};
  o.pods = {ready(loader_pod(o, k47, "worker-a1")), loader_pod(o, k47, "worker-a2")};
  const Desired d = reconcile(o, OperatorSettings{});
  REQUIRE(d.status.node_statuses.size() == 3);  // the control plane is not selected

  const NodeStatus& loaded = on(d, "worker-a1");
  CHECK(loaded.state == NodeState::loaded);
  CHECK(loaded.kernel == k47);
  CHECK(loaded.message == "registry.example/ckms/ckms-hello:1.0.0-" + k47 + " loaded");
  CHECK(loaded.since == "2026-11-23T09:10:05Z");  // when its pod turned Ready

  const NodeStatus& failed = on(d, "worker-a2");
  CHECK(failed.state == NodeState::failed);
  CHECK(failed.message == "ckms: signature of ckms_hello.ko is not from a trusted certificate");
  CHECK(failed.since == "2026-11-23T09:12:01Z");  // when the loader last stopped

  const NodeStatus& waiting = on(d, "worker-b1");
  CHECK(waiting.state == NodeState::pending);
  CHECK(waiting.kernel == k56);
  CHECK(waiting.message == "waiting for the loader pod");
  CHECK(waiting.since == o.now);

  // Failed first, then pending, then loaded: what needs a look comes first.
  std::vector<std::string> order;
  for (const auto& s : d.status.node_statuses) order.push_back(s.node);
  CHECK(order == std::vector<std::string>{"worker-a2", "worker-b1", "worker-a1"});

  SECTION("a pod that is starting is pending since its creation, with the kubelet's reason") {
    json pulling = loader_pod(o, k56, "worker-b1");
    pulling["status"]["containerStatuses"][0] = {{"name", "load"},
                                                 {"ready", false},
                                                 {"restartCount", 0},
                                                 {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}};
    o.pods.push_back(pulling);
    const Desired now = reconcile(o, OperatorSettings{});
    const NodeStatus& starting = on(now, "worker-b1");
    CHECK(starting.state == NodeState::pending);
    CHECK(starting.message == "ContainerCreating");
    CHECK(starting.since == "2026-11-23T09:09:58Z");
  }
  SECTION("the kubelet's fallback message is the end of the log: its last line is ckms's error") {
    o.pods[1]["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"] =
        "fetching registry.example/ckms/ckms-hello:1.0.0\nckms: no artifact for kernel " + k47 + "\n";
    CHECK(on(reconcile(o, OperatorSettings{}), "worker-a2").message == "ckms: no artifact for kernel " + k47);
  }
}

TEST_CASE("node status: a kernel still building, or whose build failed, speaks for its nodes",
          "[operator][nodestatus]") {
  Observed o = observe();
  o.artifacts = {{k47, Availability::missing}, {k56, Availability::unknown}};
  const Desired d = reconcile(o, OperatorSettings{});
  CHECK(on(d, "worker-a1").state == NodeState::pending);
  CHECK(on(d, "worker-a1").message == "building for kernel " + k47);
  CHECK(on(d, "worker-b1").message == "no answer from the registry about kernel " + k56);

  json failed = test::load_json("job-failed.json");
  const json job = d.jobs.at(0);
  failed["metadata"] = job["metadata"];
  failed["spec"]["template"] = job["spec"]["template"];
  o.jobs.push_back(failed);
  const Desired after = reconcile(o, OperatorSettings{});
  const NodeStatus& broken = on(after, "worker-a2");
  CHECK(broken.state == NodeState::failed);
  CHECK(broken.message == fmt::format("the build for kernel {} failed (Job {})", k47, build_job_name(o.module, k47)));
}

TEST_CASE("node status: unchanged nodes keep their time, so a restart writes nothing", "[operator][nodestatus]") {
  Observed o = observe();
  o.artifacts = {{k47, Availability::published}, {k56, Availability::missing}};
  const Desired first = reconcile(o, OperatorSettings{});
  o.module.status = status_from_json(to_json(first.status));  // as written and read back
  REQUIRE(o.module.status.node_statuses == first.status.node_statuses);
  o.now = "2026-11-23T11:30:00Z";
  CHECK(reconcile(o, OperatorSettings{}).status == first.status);

  // A node that changes state gets the new time.
  o.pods = {ready(loader_pod(o, k47, "worker-a1"))};
  o.pods[0]["status"]["conditions"][1].erase("lastTransitionTime");
  const Desired later = reconcile(o, OperatorSettings{});
  CHECK(on(later, "worker-a1").since == "2026-11-23T11:30:00Z");
  CHECK(on(later, "worker-a2").since == "2026-11-23T10:00:00Z");
}

TEST_CASE("node status: a status of 5,000 nodes lists the first 1000, failed first", "[operator][nodestatus]") {
  Observed o = observe();
  const json worker = o.nodes.at(0);
  o.nodes.clear();
  for (int i = 0; i < 5000; ++i) {
    json n = worker;
    n["metadata"]["name"] = fmt::format("n{:04d}", i);
    o.nodes.push_back(n);
  }
  const std::string release = worker["status"]["nodeInfo"]["kernelVersion"];
  o.artifacts = {{release, Availability::published}};
  json crashing = loader_pod(o, release, "n4999");
  o.pods = {crashing};
  const Desired d = reconcile(o, OperatorSettings{});
  CHECK(d.status.nodes == 5000);
  REQUIRE(d.status.node_statuses.size() == kMaxNodeStatuses);
  CHECK(d.status.node_statuses.front().node == "n4999");
  CHECK(d.status.node_statuses.front().state == NodeState::failed);
}
