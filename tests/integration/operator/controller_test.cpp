// The controller end to end: a served API holding real node JSON, Debian's docker-registry
// holding per-kernel tags, and the ckms-operator binary itself.

#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "ckms/operator/controller.hpp"
#include "fake_apiserver.hpp"
#include "publish.hpp"
#include "registry_fixture.hpp"
#include "testkit.hpp"

using namespace ckms::op;
using namespace std::chrono_literals;
using nlohmann::json;

extern char** environ;

namespace {

const std::string k47 = "6.1.0-47-cloud-amd64";
const std::string k56 = "6.1.0-56-cloud-amd64";
const std::string kNs = "ckms-system";
const std::string kNodes = "/api/v1/nodes";
const std::string kModules = "/apis/ckms.io/v1alpha1/namespaces/ckms-system/kernelmodules";
const std::string kJobs = "/apis/batch/v1/namespaces/ckms-system/jobs";
const std::string kDaemonSets = "/apis/apps/v1/namespaces/ckms-system/daemonsets";
const std::string kEvents = "/api/v1/namespaces/ckms-system/events";
const std::string kPods = "/api/v1/namespaces/ckms-system/pods";

json load(const std::string& name) {
  std::ifstream in(std::filesystem::path(CKMS_SOURCE_DIR) / "tests/unit/operator/data" / name);
  return json::parse(in);
}

void publish(ckms::testkit::RegistryFixture& registry, const std::string& release) {
  test::publish_kernel_tag(registry, "ckms/ckms-hello", "1.0.0", release);
}

struct Cluster {
  // Owned by pointer so that a test can take the registry away.
  std::unique_ptr<ckms::testkit::RegistryFixture> registry =
      std::make_unique<ckms::testkit::RegistryFixture>(ckms::testkit::RegistrySetup::open_http);
  const ckms::oci::RegistryOptions registry_options = registry->options();
  test::FakeApiServer server;
  std::ostringstream log_text;
  Logger log{true, log_text};

  Cluster() {
    const json nodes = load("nodes.json");
    for (auto n : nodes["items"]) {
      for (const char* field : {"uid", "resourceVersion", "creationTimestamp"}) n["metadata"].erase(field);
      server.create(kNodes, n);
    }
    json km = load("kernelmodule.json");
    km["metadata"] = {{"name", "ckms-hello"}, {"namespace", kNs}};
    km["spec"]["repository"] = registry->host() + "/ckms/ckms-hello";
    km["spec"]["registry"] = {{"plainHTTP", true}};
    server.create(kModules, km);
  }

  KubeConfig config() const {
    KubeConfig c;
    c.server = server.url();
    return c;
  }

  ControllerOptions options() const {
    ControllerOptions o;
    o.namespace_name = kNs;
    o.settings.ckms_image = "registry.example/ckms/ckms:0.1.0";
    o.watch.initial_backoff = 20ms;
    o.watch.watch_timeout = 30s;
    o.resync = 1s;
    o.retry_backoff = 50ms;
    return o;
  }

  // A fresh controller, as after a restart of the operator.
  int run_once() {
    RegistryArtifactChecker checker(registry_options);
    Controller controller(config(), options(), checker, log);
    return controller.run_once();
  }

  json module() const { return server.get(kModules, "ckms-hello").value(); }
  std::map<std::string, json> by_release(const std::string& collection) const {
    std::map<std::string, json> out;
    for (const auto& o : server.list(collection)) out[kernel_release_of(o)] = o;
    return out;
  }
  const json& kernel_status(const std::string& release) const {
    static json found;
    const json m = module();
    for (const auto& k : m["status"]["kernels"])
      if (k["release"] == release) return found = k;
    throw std::runtime_error("no status for " + release);
  }
  std::string condition(const std::string& type) const {
    const json m = module();
    for (const auto& c : m["status"]["conditions"])
      if (c["type"] == type) return c["status"].get<std::string>() + "/" + c["reason"].get<std::string>();
    return "absent";
  }
  void set_kernel(const std::string& node, const std::string& release) {
    server.update(kNodes, node, [&](json& n) { n["status"]["nodeInfo"]["kernelVersion"] = release; });
  }
  // Writes that were accepted (a 409 for an Event said before a restart changes nothing).
  std::vector<std::string> changes() const {
    std::vector<std::string> out;
    for (const auto& w : server.writes())
      if (w.rfind("POST " + kEvents, 0) != 0) out.push_back(w);
    return out;
  }
};

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 15s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return condition();
}

// Stops and joins a controller thread when a test leaves its scope: a failed REQUIRE must
// not leave the thread running.
struct StopAndJoin {
  std::atomic<bool>& stop;
  std::thread& thread;
  ~StopAndJoin() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
};

// The DaemonSet controller and the kubelet for loaders, one pass: a pod whose node its
// DaemonSet no longer pins goes (its preStop unloads), then each pinned node without a pod
// of its DaemonSet gets one, ready, or crash-looping with ckms's message for a node in
// `failing` when it is of `failing_version`.
struct DaemonSetPlay {
  test::FakeApiServer& server;
  std::set<std::string> failing;
  std::string failing_version;
  std::vector<std::string> overlaps;  // a pod started beside another build's on its node

  void step() {
    std::map<std::string, json> by_uid;
    for (const auto& ds : server.list(kDaemonSets)) by_uid[ds["metadata"]["uid"]] = ds;
    for (const auto& pod : server.list(kPods)) {
      const auto owner = by_uid.find(pod["metadata"]["ownerReferences"][0]["uid"]);
      const auto pinned = owner == by_uid.end() ? std::vector<std::string>{} : pinned_nodes(owner->second);
      if (std::find(pinned.begin(), pinned.end(), pod["spec"]["nodeName"]) == pinned.end())
        server.remove(kPods, pod["metadata"]["name"]);
    }
    for (const auto& [uid, ds] : by_uid)
      for (const auto& node : pinned_nodes(ds)) start(ds, node);
  }

  // Nodes of `nodes` without a ready loader pod.
  int unavailable(const std::vector<std::string>& nodes) const {
    int count = 0;
    for (const auto& node : nodes) {
      bool ready = false;
      for (const auto& pod : server.list(kPods))
        ready = ready || (pod["spec"]["nodeName"] == node && pod["status"]["conditions"][1]["status"] == "True");
      count += ready ? 0 : 1;
    }
    return count;
  }

  // The version key of the pods on `node`.
  std::vector<std::string> versions_on(const std::string& node) const {
    std::vector<std::string> out;
    for (const auto& pod : server.list(kPods))
      if (pod["spec"]["nodeName"] == node) out.push_back(pod["metadata"]["labels"]["ckms.io/version"]);
    return out;
  }

 private:
  void start(const json& ds, const std::string& node) {
    const std::string name = ds["metadata"]["name"].get<std::string>() + "-" + node;
    if (server.get(kPods, name)) return;
    if (!versions_on(node).empty()) overlaps.push_back(node);
    json pod = load("pod-crashloop.json");
    pod["metadata"] = {{"name", name},
                       {"labels", ds["spec"]["template"]["metadata"]["labels"]},
                       {"ownerReferences", json::array({{{"apiVersion", "apps/v1"},
                                                         {"kind", "DaemonSet"},
                                                         {"name", ds["metadata"]["name"]},
                                                         {"uid", ds["metadata"]["uid"]},
                                                         {"controller", true}}})}};
    pod["spec"]["nodeName"] = node;
    if (!(failing.contains(node) && module_version_of(ds) == failing_version)) {
      pod["status"]["conditions"][1]["status"] = "True";
      pod["status"]["containerStatuses"][0] = {{"name", "load"}, {"ready", true}, {"restartCount", 0}};
    }
    server.create(kPods, pod);
  }
};

const std::vector<std::string> kSelected{"worker-a1", "worker-a2", "worker-b1"};

// Installs version 1.0.0 everywhere, publishes 2.0.0 for both kernels and asks for it.
void install_then_upgrade(Cluster& cluster, DaemonSetPlay& play) {
  publish(*cluster.registry, k47);
  publish(*cluster.registry, k56);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(cluster.run_once() == 0);
    play.step();
  }
  REQUIRE(cluster.run_once() == 0);
  REQUIRE(cluster.condition("Ready") == "True/AllNodesLoaded");
  for (const auto& release : {k47, k56})
    test::publish_kernel_tag(*cluster.registry, "ckms/ckms-hello", "2.0.0", release);
  cluster.server.update(kModules, "ckms-hello", [](json& km) { km["spec"]["version"] = "2.0.0"; });
}

}  // namespace

TEST_CASE("controller: a new version rolls out node by node, each DaemonSet write accepted", "[operator][controller]") {
  Cluster cluster;
  DaemonSetPlay play{cluster.server};
  install_then_upgrade(cluster, play);

  int passes = 0;
  int most_unavailable = 0;
  std::set<std::string> seen_upgrading;
  do {
    REQUIRE(cluster.run_once() == 0);  // a write the API server refused would fail it
    play.step();
    most_unavailable = std::max(most_unavailable, play.unavailable(kSelected));
    const json status = cluster.module()["status"];
    for (const auto& node : status.value("/upgrade/upgrading"_json_pointer, json::array())) seen_upgrading.insert(node);
  } while (cluster.condition("Upgrading") != "False/UpToDate" && ++passes < 20);

  CHECK(passes >= 5);
  CHECK(most_unavailable == 1);
  CHECK(seen_upgrading == std::set<std::string>(kSelected.begin(), kSelected.end()));
  CHECK(play.overlaps.empty());
  for (const auto& node : kSelected) CHECK(play.versions_on(node) == std::vector<std::string>{version_key("2.0.0")});
  REQUIRE(cluster.run_once() == 0);
  CHECK(cluster.condition("Ready") == "True/AllNodesLoaded");
  CHECK_FALSE(cluster.module()["status"].contains("upgrade"));
  for (const auto& ds : cluster.server.list(kDaemonSets)) CHECK(module_version_of(ds) == "2.0.0");
}

TEST_CASE("controller: a node failing the new version stops the rollout", "[operator][controller]") {
  Cluster cluster;
  DaemonSetPlay play{cluster.server, {"worker-a1"}, "2.0.0"};
  install_then_upgrade(cluster, play);
  for (int i = 0; i < 8; ++i) {
    REQUIRE(cluster.run_once() == 0);
    play.step();
  }
  CHECK(cluster.condition("Degraded") == "True/UpgradeFailed");
  CHECK(cluster.module()["status"]["upgrade"]["stoppedAt"] == "worker-a1");
  CHECK(play.versions_on("worker-a1") == std::vector<std::string>{version_key("2.0.0")});
  for (const char* node : {"worker-a2", "worker-b1"})
    CHECK(play.versions_on(node) == std::vector<std::string>{version_key("1.0.0")});
  int stopped = 0;
  for (const auto& e : cluster.server.list(kEvents)) stopped += e["reason"] == "UpgradeStopped";
  CHECK(stopped == 1);
}

TEST_CASE("controller: builds where no artifact is, loads where one is, and a restart changes nothing",
          "[operator][controller]") {
  Cluster cluster;
  publish(*cluster.registry, k47);

  REQUIRE(cluster.run_once() == 0);
  auto jobs = cluster.by_release(kJobs);
  auto loaders = cluster.by_release(kDaemonSets);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs.count(k56) == 1);
  REQUIRE(loaders.size() == 1);
  CHECK(pinned_nodes(loaders.at(k47)) == std::vector<std::string>{"worker-a1", "worker-a2"});
  CHECK(loaders.at(k47)["metadata"]["ownerReferences"][0]["uid"] == cluster.module()["metadata"]["uid"]);
  CHECK(cluster.kernel_status(k47)["built"] == 2);
  CHECK(cluster.kernel_status(k56)["phase"] == "Building");
  CHECK(cluster.condition("Building") == "True/BuildsRunning");
  CHECK(cluster.condition("Ready") == "False/NotAllNodesLoaded");
  CHECK(cluster.module()["status"]["observedGeneration"] == 1);
  CHECK(cluster.server.list(kEvents).size() == 2);  // BuildStarted, LoaderStarted

  // A restart: a new controller finds everything right and writes nothing.
  cluster.server.clear_requests();
  REQUIRE(cluster.run_once() == 0);
  CHECK(cluster.changes() == std::vector<std::string>{});

  SECTION("a failed build is reported once, and not retried") {
    const std::string job = jobs.at(k56)["metadata"]["name"];
    cluster.server.update(kJobs, job, [](json& j) { j["status"] = load("job-failed.json")["status"]; });
    REQUIRE(cluster.run_once() == 0);
    CHECK(cluster.kernel_status(k56)["phase"] == "BuildFailed");
    CHECK(cluster.condition("Degraded") == "True/BuildFailed");
    int warnings = 0;
    for (const auto& e : cluster.server.list(kEvents)) warnings += e["reason"] == "BuildFailed";
    CHECK(warnings == 1);
    cluster.server.clear_requests();
    REQUIRE(cluster.run_once() == 0);
    CHECK(cluster.server.writes() == std::vector<std::string>{});  // not even a POST that meets 409
    CHECK(cluster.server.get(kJobs, job));
  }

  SECTION("a kernel upgrade: the node follows its kernel without anyone acting") {
    const json old_k47 = loaders.at(k47);
    publish(*cluster.registry, k56);
    cluster.set_kernel("worker-a2", k56);
    cluster.server.conflict_next_updates("/status", 1);  // someone else wrote the status meanwhile
    REQUIRE(cluster.run_once() == 0);
    CHECK(cluster.server.list(kJobs).size() == 1);  // published: kept until its loader exists
    REQUIRE(cluster.run_once() == 0);
    CHECK(cluster.server.list(kJobs).empty());  // the loader exists: the build Job goes
    loaders = cluster.by_release(kDaemonSets);
    REQUIRE(loaders.size() == 2);
    CHECK(pinned_nodes(loaders.at(k47)) == std::vector<std::string>{"worker-a1"});
    CHECK(pinned_nodes(loaders.at(k56)) == std::vector<std::string>{"worker-a2", "worker-b1"});
    // The node that left was unpinned in place: the loader (and its pods elsewhere) stayed.
    CHECK(loaders.at(k47)["metadata"]["uid"] == old_k47["metadata"]["uid"]);
    CHECK(loaders.at(k47)["spec"]["updateStrategy"]["type"] == "OnDelete");
    CHECK(cluster.kernel_status(k56)["nodes"] == 2);

    // Every node moves to a kernel nobody published: old loaders go, a build starts.
    const std::string k57 = "6.1.0-57-cloud-amd64";
    for (const char* node : {"worker-a1", "worker-a2", "worker-b1", "control-plane"}) cluster.set_kernel(node, k57);
    REQUIRE(cluster.run_once() == 0);
    CHECK(cluster.server.list(kDaemonSets).empty());
    REQUIRE(cluster.by_release(kJobs).count(k57) == 1);
    CHECK(cluster.module()["status"]["kernels"].size() == 1);
  }

  SECTION("a deleted resource leaves nothing behind") {
    cluster.server.remove(kModules, "ckms-hello");
    REQUIRE(cluster.run_once() == 0);
    CHECK(cluster.server.list(kJobs).empty());
    CHECK(cluster.server.list(kDaemonSets).empty());
  }

  SECTION("a changed spec replaces the workloads made from the old one") {
    cluster.server.update(kModules, "ckms-hello", [](json& km) {
      km["spec"]["parameters"]["repeat"] = "5";
      km["metadata"]["generation"] = 2;
    });
    const std::string old_uid = loaders.at(k47)["metadata"]["uid"];
    REQUIRE(cluster.run_once() == 0);  // deletes the stale loader
    REQUIRE(cluster.run_once() == 0);  // creates it anew
    const auto now = cluster.by_release(kDaemonSets);
    REQUIRE(now.count(k47) == 1);
    CHECK(now.at(k47)["metadata"]["uid"] != old_uid);
    CHECK(cluster.module()["status"]["observedGeneration"] == 2);
  }
}

TEST_CASE("controller: preflight builds an upcoming kernel, and reports it published", "[operator][controller]") {
  Cluster cluster;
  publish(*cluster.registry, k47);
  publish(*cluster.registry, k56);
  const std::string k57 = "6.1.0-57-cloud-amd64";
  cluster.server.update(kModules, "ckms-hello", [&](json& km) { km["spec"]["kernels"] = {k57}; });
  REQUIRE(cluster.run_once() == 0);
  const auto jobs = cluster.by_release(kJobs);
  CHECK(jobs.size() == 1);
  CHECK(jobs.count(k57) == 1);
  CHECK(cluster.module()["status"]["preflight"][0]["state"] == "Building");
  CHECK(cluster.by_release(kDaemonSets).count(k57) == 0);

  publish(*cluster.registry, k57);
  REQUIRE(cluster.run_once() == 0);
  CHECK(cluster.server.list(kJobs).empty());
  CHECK(cluster.module()["status"]["preflight"][0]["state"] == "Published");
  CHECK(cluster.by_release(kDaemonSets).size() == 2);  // the nodes' kernels only
}

TEST_CASE("controller: an invalid spec is reported in status and events", "[operator][controller]") {
  Cluster cluster;
  cluster.server.update(kModules, "ckms-hello", [](json& km) { km["spec"]["buildImageTemplate"] = "kb:latest"; });
  REQUIRE(cluster.run_once() == 0);
  CHECK(cluster.condition("Degraded") == "True/InvalidSpec");
  CHECK(cluster.server.list(kJobs).empty());
  bool event = false;
  for (const auto& e : cluster.server.list(kEvents))
    event |= e["reason"] == "InvalidSpec" && e["message"].get<std::string>().find("{release}") != std::string::npos;
  CHECK(event);
}

TEST_CASE("controller: a write the API server refuses reaches the status and an event", "[operator][controller]") {
  Cluster cluster;
  publish(*cluster.registry, k47);
  REQUIRE(cluster.run_once() == 0);
  cluster.server.deny_writes("/daemonsets", "loaders need a reviewed image");
  cluster.set_kernel("worker-b1", k47);  // a third node: the loader must be re-pinned
  CHECK(cluster.run_once() == 1);
  CHECK(cluster.condition("Degraded") == "True/WorkloadRejected");
  CHECK(cluster.condition("Ready") == "False/NotAllNodesLoaded");
  CHECK(cluster.kernel_status(k47)["nodes"] == 3);
  std::string message;
  const json status = cluster.module()["status"];
  for (const auto& c : status["conditions"])
    if (c["type"] == "Degraded") message = c["message"].get<std::string>();
  CHECK_THAT(message, Catch::Contains("loaders need a reviewed image"));
  int rejected = 0;
  for (const auto& e : cluster.server.list(kEvents)) rejected += e["reason"] == "WorkloadRejected";
  CHECK(rejected == 1);
  // The same refusal again changes nothing more.
  cluster.server.clear_requests();
  CHECK(cluster.run_once() == 1);
  for (const auto& w : cluster.changes()) CHECK(w.find("/status") == std::string::npos);
}

TEST_CASE("controller: an unreachable registry tears nothing down", "[operator][controller]") {
  Cluster cluster;
  publish(*cluster.registry, k47);
  REQUIRE(cluster.run_once() == 0);
  cluster.registry.reset();  // the registry is gone: connections are refused
  cluster.server.clear_requests();
  REQUIRE(cluster.run_once() == 0);
  CHECK(cluster.condition("Degraded") == "True/RegistryUnreachable");
  CHECK(cluster.by_release(kDaemonSets).size() == 1);  // the loader stays
  CHECK(cluster.by_release(kJobs).size() == 1);        // the build goes on
  CHECK(cluster.changes() ==
        std::vector<std::string>{"PUT /apis/ckms.io/v1alpha1/namespaces/ckms-system/kernelmodules/ckms-hello/status"});
}

namespace {
// A registry that accepts connections (the kernel completes the handshake for the backlog)
// and never answers.
struct SilentRegistry {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port = 0;
  SilentRegistry() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot listen");
    port = ntohs(addr.sin_port);
  }
  ~SilentRegistry() { ::close(fd); }
};
}  // namespace

TEST_CASE("controller: a registry that never answers holds no reconcile past its deadline, nor a stop",
          "[operator][controller]") {
  Cluster cluster;
  SilentRegistry silent;
  cluster.server.update(kModules, "ckms-hello", [&](json& km) {
    km["spec"]["repository"] = fmt::format("127.0.0.1:{}/ckms/ckms-hello", silent.port);
  });
  {
    RegistryArtifactChecker checker(cluster.registry_options, 500ms);
    Controller controller(cluster.config(), cluster.options(), checker, cluster.log);
    REQUIRE(controller.run_once() == 0);
    CHECK(cluster.condition("Degraded") == "True/RegistryUnreachable");
    const json status = cluster.module()["status"];
    for (const auto& c : status["conditions"])
      if (c["type"] == "Degraded") CHECK_THAT(c["message"].get<std::string>(), Catch::Contains("timed out"));
    CHECK_THAT(cluster.log_text.str(), Catch::Contains("\"why\":\"timed out\""));
    // Asked again while the first check still hangs: no second connection piles up.
    REQUIRE(controller.run_once() == 0);
    CHECK(checker.clients_made() == 1);
  }
  // Watching: SIGTERM's stop does not wait for the registry.
  RegistryArtifactChecker checker(cluster.registry_options, 600s);
  Controller controller(cluster.config(), cluster.options(), checker, cluster.log);
  std::atomic<bool> stop{false};
  std::thread thread([&] { controller.run(stop); });
  REQUIRE(eventually([&] { return cluster.server.open_watches() == 5; }));  // synced, then reconciling
  std::this_thread::sleep_for(300ms);                                       // into the registry check
  const auto start = std::chrono::steady_clock::now();
  stop = true;
  thread.join();
  CHECK(std::chrono::steady_clock::now() - start < 3s);
}

TEST_CASE("controller: one registry client per module, reused across checks", "[operator][controller]") {
  Cluster cluster;
  publish(*cluster.registry, k47);
  RegistryArtifactChecker checker(cluster.registry_options);
  Controller controller(cluster.config(), cluster.options(), checker, cluster.log);
  REQUIRE(controller.run_once() == 0);
  REQUIRE(controller.run_once() == 0);
  CHECK(checker.clients_made() == 1);
}

TEST_CASE("controller: a deleted module's registry client goes with it", "[operator][controller]") {
  Cluster cluster;
  publish(*cluster.registry, k47);
  RegistryArtifactChecker checker(cluster.registry_options);
  Controller controller(cluster.config(), cluster.options(), checker, cluster.log);
  const json hello = cluster.module();
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 20; ++i) {
      json km = {{"apiVersion", "ckms.io/v1alpha1"},
                 {"kind", "KernelModule"},
                 {"metadata", {{"name", fmt::format("module-{}", i)}, {"namespace", kNs}}},
                 {"spec", hello["spec"]}};
      cluster.server.create(kModules, km);
    }
    REQUIRE(controller.run_once() == 0);
    CHECK(checker.clients_held() == 21);
    for (int i = 0; i < 20; ++i) cluster.server.remove(kModules, fmt::format("module-{}", i));
    REQUIRE(controller.run_once() == 0);
    CHECK(checker.clients_held() == 1);  // ckms-hello's alone, round after round
  }
  CHECK(checker.clients_made() == 61);
}

TEST_CASE("controller: watching, it follows a kernel upgrade and stops on request", "[operator][controller]") {
  Cluster cluster;
  publish(*cluster.registry, k47);
  publish(*cluster.registry, k56);
  RegistryArtifactChecker checker(cluster.registry_options);
  Controller controller(cluster.config(), cluster.options(), checker, cluster.log);
  std::atomic<bool> stop{false};
  std::thread thread([&] { controller.run(stop); });
  const StopAndJoin joiner{stop, thread};

  REQUIRE(eventually([&] { return cluster.by_release(kDaemonSets).size() == 2; }));
  cluster.set_kernel("worker-a1", k56);
  REQUIRE(eventually([&] {
    const auto loaders = cluster.by_release(kDaemonSets);
    return loaders.size() == 2 && pinned_nodes(loaders.at(k56)) == std::vector<std::string>{"worker-a1", "worker-b1"};
  }));
  // Loader pods turn ready: status follows through the pod watch.
  for (const auto& [node, release] :
       std::vector<std::pair<std::string, std::string>>{{"worker-a1", k56}, {"worker-b1", k56}, {"worker-a2", k47}}) {
    json pod = load("pod-crashloop.json");
    pod["metadata"] = {{"name", "load-" + node},
                       {"labels",
                        {{"app.kubernetes.io/managed-by", "ckms-operator"},
                         {"ckms.io/kernelmodule", "ckms-hello"},
                         {"app.kubernetes.io/component", "load"},
                         {"ckms.io/kernel", kernel_key(release)},
                         {"ckms.io/version", version_key("1.0.0")}}}};
    pod["spec"]["nodeName"] = node;
    pod["status"]["conditions"][1]["status"] = "True";
    pod["status"]["containerStatuses"][0] = {{"name", "load"}, {"ready", true}, {"restartCount", 0}};
    cluster.server.create("/api/v1/namespaces/ckms-system/pods", pod);
  }
  REQUIRE(eventually([&] { return cluster.condition("Ready") == "True/AllNodesLoaded"; }));
  CHECK(cluster.module()["status"]["loadedNodes"] == 3);

  const auto start = std::chrono::steady_clock::now();
  stop = true;
  thread.join();
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK(controller.stats().failures == 0);
}

TEST_CASE("controller: a module waiting for its retry does not spin the loop", "[operator][controller]") {
  Cluster cluster;
  publish(*cluster.registry, k47);
  cluster.server.deny_writes("/daemonsets", "no loaders today");
  RegistryArtifactChecker checker(cluster.registry_options);
  ControllerOptions options = cluster.options();
  options.retry_backoff = 60s;  // the retry lies beyond the test
  options.resync = 600s;
  Controller controller(cluster.config(), options, checker, cluster.log);
  std::atomic<bool> stop{false};
  std::thread thread([&] { controller.run(stop); });
  const StopAndJoin joiner{stop, thread};
  REQUIRE(eventually([&] { return controller.stats().failures >= 1; }));
  // An event for the waiting module puts it in the queue; it must wait, not spin.
  cluster.server.update(kModules, "ckms-hello", [](json& km) { km["metadata"]["labels"]["touched"] = "1"; });
  const int before = controller.stats().wakeups;
  std::this_thread::sleep_for(1s);
  // Idle, the loop turns about five times a second; spinning, it turns thousands of times.
  CHECK(controller.stats().wakeups - before < 50);
  CHECK(controller.stats().failures == 1);
}

TEST_CASE("ckms-operator: --once over TLS with a kubeconfig, and a clean stop on SIGTERM", "[operator][binary]") {
  ckms::testkit::TempDir dir{"ckms-operator"};
  const auto files = test::make_tls_files(dir.path());
  ckms::testkit::RegistryFixture registry(ckms::testkit::RegistrySetup::open_http);
  publish(registry, k47);
  test::FakeApiServer server(test::FakeApiOptions{files, false, "operator-token"});
  const json nodes = load("nodes.json");
  for (auto n : nodes["items"]) server.create(kNodes, n);
  json km = load("kernelmodule.json");
  km["metadata"] = {{"name", "ckms-hello"}, {"namespace", kNs}};
  km["spec"]["repository"] = registry.host() + "/ckms/ckms-hello";
  km["spec"]["registry"] = {{"plainHTTP", true}};
  server.create(kModules, km);
  ckms::testkit::write_text(
      dir / "kubeconfig",
      fmt::format("apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                  "clusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority: {}\n"
                  "users:\n- name: test\n  user:\n    token: operator-token\n"
                  "contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: {}\n",
                  server.url(), files.ca_cert.string(), kNs));
  const std::string binary = std::string(CKMS_BINARY_DIR) + "/operator/ckms-operator";

  const auto once = ckms::testkit::run({binary, "--once", "--json", "--kubeconfig", (dir / "kubeconfig").string(),
                                        "--ckms-image", "registry.example/ckms/ckms:0.1.0"},
                                       {.timeout_seconds = 60});
  INFO(once.err);
  REQUIRE(once.exit_code == 0);
  CHECK(server.list(kDaemonSets).size() == 1);
  CHECK(server.list(kJobs).size() == 1);
  std::istringstream lines(once.err);
  for (std::string line; std::getline(lines, line);) CHECK(json::parse(line).contains("msg"));

  const auto usage = ckms::testkit::run({binary, "--once", "--kubeconfig", (dir / "kubeconfig").string()});
  CHECK(usage.exit_code == 2);  // no --ckms-image

  // Watching: stops cleanly on SIGTERM.
  const std::string err_file = (dir / "operator.err").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> args{binary, "--kubeconfig", (dir / "kubeconfig").string(), "--ckms-image", "x:1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  const bool synced =
      eventually([&] { return ckms::testkit::read_text(err_file).find("caches synced") != std::string::npos; });
  ::kill(pid, SIGTERM);
  int status = 0;
  const auto start = std::chrono::steady_clock::now();
  ::waitpid(pid, &status, 0);
  CHECK(synced);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(ckms::testkit::read_text(err_file), Catch::Contains("stopping"));
}
