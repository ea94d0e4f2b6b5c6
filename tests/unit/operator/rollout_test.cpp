// Ordered upgrades in the pure reconcile: a version change moves nodes from the older
// loader to the new one in batches of maxUnavailable, unloading before loading; the hold
// label keeps a node back; a failing new loader stops the rollout.

#include <catch2/catch.hpp>

#include <algorithm>

#include "ckms/base/error.hpp"
#include "ckms/operator/reconcile.hpp"
#include "ckms/operator/resources.hpp"
#include "fixtures.hpp"

using namespace ckms::op;
using nlohmann::json;

namespace {

const std::string k47 = "6.1.0-47-cloud-amd64";
const std::string k56 = "6.1.0-56-cloud-amd64";

Observed observe() {
  Observed o = test::observed_cluster();
  o.artifacts = {{k47, Availability::published}, {k56, Availability::published}};
  return o;
}

json stored(json object) {
  object["metadata"]["uid"] = "uid-" + object["metadata"]["name"].get<std::string>();
  object["metadata"]["resourceVersion"] = "500";
  return object;
}

// A loader pod of `version` on `node`, ready or crash-looping with ckms's message.
json loader_pod(const std::string& version, const std::string& release, const std::string& node, bool ready) {
  json p = test::load_json("pod-crashloop.json");
  p["metadata"]["name"] = "load-" + version + "-" + node;
  p["metadata"]["labels"][std::string(label::kernel)] = kernel_key(release);
  p["metadata"]["labels"][std::string(label::version)] = version_key(version);
  p["spec"]["nodeName"] = node;
  if (ready) {
    p["status"]["conditions"][1]["status"] = "True";
    p["status"]["containerStatuses"][0] = {{"name", "load"}, {"ready", true}, {"restartCount", 0}};
  }
  return p;
}

// Plays the API server, the DaemonSet controller and the kubelet around reconcile(): each
// step writes what reconcile wants, deletes pods of nodes their loader no longer pins,
// starts a pod on each pinned node without one, and then lets deleted pods go (their
// preStop unloaded) and new pods turn ready, or fail on the nodes in `failing`.
struct Cluster {
  Observed o = observe();
  OperatorSettings settings;
  std::set<std::string> failing;
  std::vector<std::string> overlaps;  // a pod started while another build's pod was on its node
  Desired last;

  void step() {
    last = reconcile(o, settings);
    o.module.status = last.status;
    o.daemon_sets.clear();
    for (const auto& ds : last.daemon_sets) o.daemon_sets.push_back(stored(ds));
    o.jobs = last.jobs;
    delete_unpinned();
    start_pods();
    settle();
  }

  // Steps until the module stops changing; the number of steps taken.
  int run(int limit = 20) {
    for (int i = 1; i <= limit; ++i) {
      const auto before = o.pods;
      const auto status = o.module.status;
      step();
      if (o.pods == before && o.module.status == status) return i;
    }
    return limit + 1;
  }

  void set_version(const std::string& version) {
    o.module.spec.version = version;
    o.module.generation += 1;
  }

  // Nodes without a ready loader of any build.
  int unavailable() const {
    int count = 0;
    for (const std::string node : {"worker-a1", "worker-a2", "worker-b1"}) {
      bool ready = false;
      for (const auto& p : o.pods)
        ready = ready || (p["spec"]["nodeName"] == node && p["status"]["conditions"][1]["status"] == "True");
      count += ready ? 0 : 1;
    }
    return count;
  }

  std::string version_on(const std::string& node) const {
    for (const auto& p : o.pods)
      if (p["spec"]["nodeName"] == node) return p["metadata"]["name"].get<std::string>().substr(5, 5);
    return "none";
  }

 private:
  const json* loader_of(const json& pod) const {
    for (const auto& ds : o.daemon_sets)
      if (kernel_key(kernel_release_of(ds)) == pod["metadata"]["labels"][std::string(label::kernel)] &&
          version_key(module_version_of(ds)) == pod["metadata"]["labels"][std::string(label::version)])
        return &ds;
    return nullptr;
  }

  void delete_unpinned() {
    for (auto& p : o.pods) {
      const json* ds = loader_of(p);
      const auto pinned = ds ? pinned_nodes(*ds) : std::vector<std::string>{};
      if (std::find(pinned.begin(), pinned.end(), p["spec"]["nodeName"]) == pinned.end())
        p["metadata"]["deletionTimestamp"] = "2026-11-23T10:00:00Z";
    }
  }

  void start_pods() {
    for (const auto& ds : o.daemon_sets) {
      const std::string version = module_version_of(ds);
      for (const auto& node : pinned_nodes(ds)) {
        bool has_own = false;
        for (const auto& p : o.pods) {
          if (p["spec"]["nodeName"] != node) continue;
          if (p["metadata"]["labels"][std::string(label::version)] == version_key(version))
            has_own = true;
          else
            overlaps.push_back(node);
        }
        if (!has_own) o.pods.push_back(loader_pod(version, kernel_release_of(ds), node, false));
      }
    }
  }

  void settle() {
    std::vector<json> kept;
    for (auto& p : o.pods) {
      if (p["metadata"].contains("deletionTimestamp")) continue;
      const std::string node = p["spec"]["nodeName"];
      const std::string version = p["metadata"]["name"].get<std::string>().substr(5, 5);
      if (!failing.contains(node + "@" + version)) p = loader_pod(version, release_of(p), node, true);
      kept.push_back(p);
    }
    o.pods = kept;
  }

  std::string release_of(const json& pod) const {
    for (const auto& release : {k47, k56})
      if (pod["metadata"]["labels"][std::string(label::kernel)] == kernel_key(release)) return release;
    return {};
  }
};

std::string condition(const Desired& d, ConditionType type) {
  const Condition* c = d.status.condition(type);
  REQUIRE(c != nullptr);
  return c->status + "/" + std::string(to_string(c->reason));
}

const NodeStatus& on(const Desired& d, const std::string& node) {
  for (const auto& s : d.status.node_statuses)
    if (s.node == node) return s;
  throw std::runtime_error("no status for node " + node);
}

Cluster installed() {
  Cluster c;
  c.run();
  REQUIRE(condition(c.last, ConditionType::ready) == "True/AllNodesLoaded");
  REQUIRE(condition(c.last, ConditionType::upgrading) == "False/UpToDate");
  REQUIRE_FALSE(c.last.status.upgrade.has_value());
  return c;
}

}  // namespace

TEST_CASE("rollout: a new version moves one node at a time, unloading before loading", "[operator][rollout]") {
  Cluster c = installed();
  c.set_version("2.0.0");

  c.step();  // one node leaves the older loader; nothing of 2.0.0 runs yet
  CHECK(condition(c.last, ConditionType::upgrading) == "True/RollingOut");
  CHECK(condition(c.last, ConditionType::ready) == "False/NotAllNodesLoaded");
  REQUIRE(c.last.status.upgrade.has_value());
  CHECK(c.last.status.upgrade->version == "2.0.0");
  CHECK(c.last.status.upgrade->max_unavailable == 1);
  CHECK(c.last.status.upgrade->upgrading == std::vector<std::string>{"worker-a1"});
  CHECK(on(c.last, "worker-a1").state == NodeState::upgrading);
  CHECK(on(c.last, "worker-a2").message == "version 1.0.0 loaded; waiting to upgrade to version 2.0.0");
  CHECK(c.last.daemon_sets.size() == 2);  // the older loaders, one node fewer
  CHECK(c.unavailable() == 1);

  int steps = 1;
  while (c.last.status.upgrade && steps < 20) {
    c.step();
    ++steps;
    CHECK(c.unavailable() <= 1);
  }
  CHECK(steps >= 6);  // three nodes, each unloaded then loaded in a step of its own
  CHECK(c.overlaps.empty());
  c.run();
  CHECK(condition(c.last, ConditionType::ready) == "True/AllNodesLoaded");
  CHECK(condition(c.last, ConditionType::upgrading) == "False/UpToDate");
  for (const std::string node : {"worker-a1", "worker-a2", "worker-b1"}) CHECK(c.version_on(node) == "2.0.0");
  REQUIRE(c.last.daemon_sets.size() == 2);
  for (const auto& ds : c.last.daemon_sets) CHECK(module_version_of(ds) == "2.0.0");
}

TEST_CASE("rollout: maxUnavailable as a percentage is rounded up", "[operator][rollout]") {
  Cluster c = installed();
  c.set_version("2.0.0");
  SECTION("50% of 3 nodes is 2") {
    c.o.module.spec.max_unavailable = {50, true};
    c.step();
    CHECK(c.last.status.upgrade->max_unavailable == 2);
    CHECK(c.last.status.upgrade->upgrading == std::vector<std::string>{"worker-a1", "worker-a2"});
    CHECK(c.unavailable() == 2);
  }
  SECTION("100% moves every node at once") {
    c.o.module.spec.max_unavailable = {100, true};
    c.step();
    CHECK(c.last.status.upgrade->upgrading.size() == 3);
    CHECK(c.last.daemon_sets.empty());  // every older loader left without nodes goes
  }
  c.run();
  CHECK(condition(c.last, ConditionType::ready) == "True/AllNodesLoaded");
  CHECK(c.overlaps.empty());
}

TEST_CASE("rollout: a node with the hold label keeps its older build", "[operator][rollout]") {
  Cluster c = installed();
  for (auto& node : c.o.nodes)
    if (node["metadata"]["name"] == "worker-a2") node["metadata"]["labels"]["hold.ckms.io/ckms-hello"] = "";
  c.set_version("2.0.0");
  c.run();
  CHECK(c.version_on("worker-a1") == "2.0.0");
  CHECK(c.version_on("worker-b1") == "2.0.0");
  CHECK(c.version_on("worker-a2") == "1.0.0");
  CHECK(c.last.status.upgrade->held == std::vector<std::string>{"worker-a2"});
  CHECK(c.last.status.upgrade->updated == 2);
  CHECK(on(c.last, "worker-a2").state == NodeState::loaded);
  CHECK(on(c.last, "worker-a2").message ==
        "version 1.0.0 loaded; held back from version 2.0.0 by the node label hold.ckms.io/ckms-hello");
  CHECK(c.last.status.condition(ConditionType::upgrading)->message ==
        "2 of 3 nodes loaded with version 2.0.0, at most 1 at a time; held back by hold.ckms.io/ckms-hello: "
        "worker-a2");

  for (auto& node : c.o.nodes) node["metadata"]["labels"].erase("hold.ckms.io/ckms-hello");
  c.run();
  CHECK(c.version_on("worker-a2") == "2.0.0");
  CHECK(condition(c.last, ConditionType::upgrading) == "False/UpToDate");
}

TEST_CASE("rollout: a node whose new build fails to load stops it", "[operator][rollout]") {
  Cluster c = installed();
  c.failing = {"worker-a1@2.0.0"};
  c.set_version("2.0.0");
  c.run();
  CHECK(c.version_on("worker-a2") == "1.0.0");  // nobody else is touched
  CHECK(c.version_on("worker-b1") == "1.0.0");
  CHECK(c.last.status.upgrade->stopped_at == "worker-a1");
  CHECK(condition(c.last, ConditionType::degraded) == "True/UpgradeFailed");
  const std::string why =
      "upgrade to version 2.0.0 stopped: loading on node worker-a1 fails: "
      "ckms: signature of ckms_hello.ko is not from a trusted certificate";
  CHECK(c.last.status.condition(ConditionType::degraded)->message.rfind(why, 0) == 0);
  CHECK(std::find(c.last.events.begin(), c.last.events.end(), EventIntent{"Warning", "UpgradeStopped", why}) !=
        c.last.events.end());
  CHECK(on(c.last, "worker-a1").state == NodeState::failed);

  SECTION("going back to the older version moves the failed node back") {
    c.set_version("1.0.0");
    c.run();
    for (const std::string node : {"worker-a1", "worker-a2", "worker-b1"}) CHECK(c.version_on(node) == "1.0.0");
    CHECK(condition(c.last, ConditionType::degraded) == "False/AsExpected");
    CHECK(condition(c.last, ConditionType::ready) == "True/AllNodesLoaded");
  }
}

TEST_CASE("rollout: a kernel whose new build is not published keeps its older loader", "[operator][rollout]") {
  Cluster c = installed();
  c.set_version("2.0.0");
  c.o.artifacts[k56] = Availability::missing;
  c.run();
  CHECK(c.version_on("worker-a1") == "2.0.0");
  CHECK(c.version_on("worker-a2") == "2.0.0");
  CHECK(c.version_on("worker-b1") == "1.0.0");  // loaded all along, while its build runs
  REQUIRE(c.last.jobs.size() == 1);
  CHECK(kernel_release_of(c.last.jobs[0]) == k56);
  CHECK(on(c.last, "worker-b1").message == "version 1.0.0 loaded; waiting to upgrade to version 2.0.0");

  c.o.artifacts[k56] = Availability::published;
  c.run();
  CHECK(c.version_on("worker-b1") == "2.0.0");
  CHECK(condition(c.last, ConditionType::upgrading) == "False/UpToDate");
}

TEST_CASE("maxUnavailable is validated as Kubernetes validates a DaemonSet's", "[operator][rollout]") {
  json km = test::load_json("kernelmodule.json");
  const auto parsed = [&](const json& value) {
    km["spec"]["maxUnavailable"] = value;
    return parse_kernel_module(km).spec.max_unavailable;
  };
  CHECK(parsed(3) == IntOrPercent{3, false});
  CHECK(parsed("25%") == IntOrPercent{25, true});
  CHECK(parsed("100%") == IntOrPercent{100, true});
  CHECK(parsed(nullptr) == IntOrPercent{1, false});
  for (const json& bad : {json(0), json("0%"), json("101%"), json("5"), json(-1), json(1.5), json("%"), json("1e3%"),
                          json("99999999999999999999%"), json(true)}) {
    INFO(bad.dump());
    CHECK_THROWS_AS(parsed(bad), ckms::Error);
  }
  CHECK(scaled_value({25, true}, 3) == 1);
  CHECK(scaled_value({50, true}, 3) == 2);
  CHECK(scaled_value({1, true}, 1000) == 10);
  CHECK(scaled_value({100, true}, 3) == 3);
  CHECK(scaled_value({4, false}, 3) == 4);
}

TEST_CASE("rollout: loaders named before version keys are rolled over, not replaced at once", "[operator][rollout]") {
  Observed o = observe();
  o.artifacts.erase(k56);  // only k47's nodes in play
  o.nodes.erase(std::remove_if(o.nodes.begin(), o.nodes.end(),
                               [](const json& n) { return n["metadata"]["name"] == "worker-b1"; }),
                o.nodes.end());
  json legacy = reconcile(o, OperatorSettings{}).daemon_sets.at(0);
  legacy["metadata"]["name"] = "ckms-hello-load-" + kernel_key(k47);  // the former name
  for (json* labels : {&legacy["metadata"]["labels"], &legacy["spec"]["template"]["metadata"]["labels"],
                       &legacy["spec"]["selector"]["matchLabels"]})
    labels->erase(std::string(label::version));
  o.daemon_sets = {stored(legacy)};
  for (const std::string node : {"worker-a1", "worker-a2"}) {
    json pod = loader_pod("1.0.0", k47, node, true);
    pod["metadata"]["labels"].erase(std::string(label::version));
    o.pods.push_back(pod);
  }
  const Desired d = reconcile(o, OperatorSettings{});
  REQUIRE(d.daemon_sets.size() == 1);
  CHECK(d.daemon_sets[0]["metadata"]["name"] == legacy["metadata"]["name"]);
  CHECK(pinned_nodes(d.daemon_sets[0]) == std::vector<std::string>{"worker-a2"});
  REQUIRE(d.status.upgrade.has_value());
  CHECK(d.status.upgrade->upgrading == std::vector<std::string>{"worker-a1"});
}
