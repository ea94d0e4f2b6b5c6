// The operator at scale (bench/operator_scale.sh runs it; hidden from ctest): the
// ckms-operator binary against the in-suite API server holding 500 nodes on 20 kernels and
// 10 KernelModules, with Debian's docker-registry for the artifacts. This test plays the
// controllers a cluster would run: a build Job publishes its tag and completes (with its
// pod), a loader DaemonSet gets a Ready pod on every node it is pinned to. Nodes and pods
// are shaped as kube-apiserver serves them (managedFields, a node's image list, a pod's
// defaulted spec and full status), since their size is what the operator's memory meets.
// Prints the time to converge (every module Ready on every node, no build Job left), the
// requests the operator made and its peak RSS.

#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <fcntl.h>

#include <iostream>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "ckms/operator/resources.hpp"
#include "ckms/operator/workloads.hpp"
#include "fake_apiserver.hpp"
#include "publish.hpp"
#include "testkit.hpp"

using namespace ckms::op;
using namespace std::chrono_literals;
using nlohmann::json;

extern char** environ;

namespace {

constexpr int kNodeCount = 500;
constexpr int kKernelCount = 20;
constexpr int kModuleCount = 10;
const std::string kNs = "ckms-system";
const std::string kNodes = "/api/v1/nodes";
const std::string kPods = "/api/v1/namespaces/ckms-system/pods";
const std::string kModules = "/apis/ckms.io/v1alpha1/namespaces/ckms-system/kernelmodules";
const std::string kJobs = "/apis/batch/v1/namespaces/ckms-system/jobs";
const std::string kDaemonSets = "/apis/apps/v1/namespaces/ckms-system/daemonsets";
const std::string kTime = "2026-11-23T10:00:00Z";

std::string release_of(int kernel) { return fmt::format("6.1.0-{}-cloud-amd64", 30 + kernel); }

std::string hex(std::size_t seed, std::size_t digits) {
  std::string out;
  while (out.size() < digits) out += fmt::format("{:016x}", std::hash<std::size_t>{}(seed + out.size()));
  return out.substr(0, digits);
}

// server-side apply's record of who set which field: the fields of `value` in FieldsV1 form.
json fields_v1(const json& value) {
  if (!value.is_object()) return json::object();
  json out = json::object();
  for (const auto& [key, child] : value.items()) {
    if (child.is_array()) {
      json items = json::object();
      for (const auto& item : child)
        items[fmt::format("k:{{\"name\":\"{}\"}}", item.is_object() ? item.value("name", "") : "")] = fields_v1(item);
      out["f:" + key] = items;
    } else {
      out["f:" + key] = fields_v1(child);
    }
  }
  return out;
}

json managed_fields(const std::string& manager, const json& object) {
  return json::array({{{"manager", manager},
                       {"operation", "Update"},
                       {"apiVersion", "v1"},
                       {"time", kTime},
                       {"fieldsType", "FieldsV1"},
                       {"fieldsV1", fields_v1(object)}}});
}

json node(int index) {
  const std::string name = fmt::format("node-{:03d}", index);
  json images = json::array();
  for (int i = 0; i < 40; ++i)
    images.push_back({{"names",
                       {fmt::format("registry.example/team-{}/service-{}@sha256:{}", i % 7, i, hex(i, 64)),
                        fmt::format("registry.example/team-{}/service-{}:v1.{}.0", i % 7, i, i)}},
                      {"sizeBytes", 20'000'000 + i * 1'000'003}});
  json n = {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata",
       {{"name", name},
        {"labels",
         {{"kubernetes.io/hostname", name},
          {"kubernetes.io/os", "linux"},
          {"kubernetes.io/arch", "amd64"},
          {"node.kubernetes.io/instance-type", "m5.xlarge"},
          {"topology.kubernetes.io/zone", fmt::format("zone-{}", index % 3)},
          {"ckms.io/hello", "true"}}},
        {"annotations",
         {{"node.alpha.kubernetes.io/ttl", "0"}, {"volumes.kubernetes.io/controller-managed-attach-detach", "true"}}}}},
      {"spec", {{"podCIDR", "10.244.1.0/24"}, {"providerID", "aws:///zone-a/i-" + hex(index, 17)}}},
      {"status",
       {{"addresses",
         json::array({{{"address", fmt::format("10.0.{}.{}", index / 250, index % 250)}, {"type", "InternalIP"}},
                      {{"address", name}, {"type", "Hostname"}}})},
        {"allocatable", {{"cpu", "4"}, {"memory", "16Gi"}, {"pods", "110"}, {"ephemeral-storage", "100Gi"}}},
        {"capacity", {{"cpu", "4"}, {"memory", "16Gi"}, {"pods", "110"}, {"ephemeral-storage", "100Gi"}}},
        {"conditions", json::array()},
        {"images", images},
        {"nodeInfo",
         {{"architecture", "amd64"},
          {"bootID", hex(index + 1, 32)},
          {"containerRuntimeVersion", "containerd://1.7.13"},
          {"kernelVersion", release_of(index % kKernelCount)},
          {"kubeProxyVersion", "v1.29.2"},
          {"kubeletVersion", "v1.29.2"},
          {"machineID", hex(index + 2, 32)},
          {"operatingSystem", "linux"},
          {"osImage", "Debian GNU/Linux 12 (bookworm)"},
          {"systemUUID", hex(index + 3, 32)}}}}}};
  for (const char* type : {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"})
    n["status"]["conditions"].push_back({{"type", type},
                                         {"status", std::string(type) == "Ready" ? "True" : "False"},
                                         {"reason", "KubeletHasSufficientResources"},
                                         {"message", "kubelet is posting ready status"},
                                         {"lastHeartbeatTime", kTime},
                                         {"lastTransitionTime", kTime}});
  n["metadata"]["managedFields"] = managed_fields("kubelet", n);
  return n;
}

json kernel_module(int index, const std::string& registry) {
  const std::string name = fmt::format("mod-{:02d}", index);
  return {{"apiVersion", "ckms.io/v1alpha1"},
          {"kind", "KernelModule"},
          {"metadata", {{"name", name}, {"namespace", kNs}}},
          {"spec",
           {{"repository", fmt::format("{}/ckms/{}", registry, name)},
            {"version", "1.0.0"},
            {"moduleName", "hello"},
            {"source", {{"artifact", fmt::format("{}/ckms/{}-source:1.0.0", registry, name)}}},
            {"buildImageTemplate", "registry.example/ckms/kernel-build:{release}"},
            {"nodeSelector", {{"ckms.io/hello", "true"}}},
            {"registry", {{"plainHTTP", true}}}}}};
}

// A pod as a Job or DaemonSet controller makes it from `owner`'s template, defaulted and
// running (or finished) as the kubelet reports it.
json pod_of(const json& owner, const std::string& node, bool finished) {
  const json& template_ = owner["spec"]["template"];
  const std::string owner_name = owner["metadata"]["name"];
  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", template_["metadata"]}, {"spec", template_["spec"]}};
  pod["metadata"]["name"] = fmt::format("{}-{}", owner_name, hex(std::hash<std::string>{}(node), 8));
  pod["metadata"]["generateName"] = owner_name + "-";
  pod["metadata"]["labels"]["controller-revision-hash"] = "6d4cf56db6";
  pod["metadata"]["labels"]["pod-template-generation"] = "1";
  pod["metadata"]["ownerReferences"] = json::array({{{"apiVersion", owner["apiVersion"]},
                                                     {"kind", owner["kind"]},
                                                     {"name", owner_name},
                                                     {"uid", owner["metadata"]["uid"]},
                                                     {"controller", true},
                                                     {"blockOwnerDeletion", true}}});
  json& spec = pod["spec"];
  spec["nodeName"] = node;
  spec["serviceAccountName"] = "default";
  spec["enableServiceLinks"] = true;
  spec["preemptionPolicy"] = "PreemptLowerPriority";
  spec["priority"] = 0;
  spec["securityContext"] = json::object();
  if (!spec.contains("tolerations")) spec["tolerations"] = json::array();
  for (const char* key :
       {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable", "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure", "node.kubernetes.io/pid-pressure", "node.kubernetes.io/unschedulable"})
    spec["tolerations"].push_back({{"key", key}, {"operator", "Exists"}, {"effect", "NoSchedule"}});
  spec["volumes"].push_back(
      {{"name", "kube-api-access-" + hex(1, 5)},
       {"projected",
        {{"defaultMode", 420},
         {"sources",
          json::array(
              {{{"serviceAccountToken", {{"expirationSeconds", 3607}, {"path", "token"}}}},
               {{"configMap", {{"name", "kube-root-ca.crt"}, {"items", {{{"key", "ca.crt"}, {"path", "ca.crt"}}}}}}},
               {{"downwardAPI",
                 {{"items",
                   {{{"path", "namespace"},
                     {"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "metadata.namespace"}}}}}}}}}})}}}});
  json statuses = json::array();
  for (auto& c : spec["containers"]) {
    c["terminationMessagePath"] = "/dev/termination-log";
    if (!c.contains("terminationMessagePolicy")) c["terminationMessagePolicy"] = "File";
    c["resources"] = json::object();
    c["volumeMounts"].push_back({{"name", "kube-api-access-" + hex(1, 5)},
                                 {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"},
                                 {"readOnly", true}});
    json state = finished ? json{{"terminated",
                                  {{"exitCode", 0},
                                   {"reason", "Completed"},
                                   {"startedAt", kTime},
                                   {"finishedAt", kTime},
                                   {"containerID", "containerd://" + hex(3, 64)}}}}
                          : json{{"running", {{"startedAt", kTime}}}};
    statuses.push_back({{"name", c["name"]},
                        {"ready", !finished},
                        {"restartCount", 0},
                        {"started", !finished},
                        {"image", c["image"]},
                        {"imageID", c["image"].get<std::string>() + "@sha256:" + hex(2, 64)},
                        {"containerID", "containerd://" + hex(4, 64)},
                        {"state", state},
                        {"lastState", json::object()}});
  }
  const std::string ready = finished ? "False" : "True";
  json conditions = json::array();
  for (const auto& [type, value] :
       std::vector<std::pair<std::string, std::string>>{{"PodReadyToStartContainers", "True"},
                                                        {"Initialized", "True"},
                                                        {"Ready", ready},
                                                        {"ContainersReady", ready},
                                                        {"PodScheduled", "True"}})
    conditions.push_back(
        {{"type", type}, {"status", value}, {"lastProbeTime", nullptr}, {"lastTransitionTime", kTime}});
  pod["status"] = {{"phase", finished ? "Succeeded" : "Running"},
                   {"conditions", conditions},
                   {"hostIP", "10.0.0.1"},
                   {"hostIPs", {{{"ip", "10.0.0.1"}}}},
                   {"podIP", "10.244.1.7"},
                   {"podIPs", {{{"ip", "10.244.1.7"}}}},
                   {"startTime", kTime},
                   {"qosClass", "BestEffort"},
                   {"containerStatuses", statuses}};
  json managed = managed_fields("kube-controller-manager", json{{"metadata", pod["metadata"]}, {"spec", pod["spec"]}});
  managed.push_back(managed_fields("kubelet", json{{"status", pod["status"]}})[0]);
  pod["metadata"]["managedFields"] = managed;
  return pod;
}

bool module_ready(const json& module) {
  for (const auto& c : module.value("/status/conditions"_json_pointer, json::array()))
    if (c.value("type", "") == "Ready")
      return c.value("status", "") == "True" && module["status"].value("loadedNodes", 0) == kNodeCount;
  return false;
}

// The Job and DaemonSet controllers and the kubelet, one pass. Returns true when the
// cluster has converged.
struct Simulation {
  test::FakeApiServer& server;
  ckms::testkit::RegistryFixture& registry;
  std::set<std::string> pods;  // made so far, by name
  int published = 0;

  bool step() {
    for (const auto& job : server.list(kJobs)) {
      if (job.contains("status") && job["status"].value("succeeded", 0) > 0) continue;
      const std::string owner = job["metadata"]["labels"][std::string(label::kernel_module)];
      const std::string version = job["metadata"]["annotations"][std::string(label::module_version)];
      test::publish_kernel_tag(registry, "ckms/" + owner, version, kernel_release_of(job));
      ++published;
      json pod = pod_of(job, "node-000", true);
      if (pods.insert(pod["metadata"]["name"]).second) server.create(kPods, pod);
      server.update(kJobs, job["metadata"]["name"], [](json& j) {
        j["status"] = {{"startTime", kTime},
                       {"completionTime", kTime},
                       {"succeeded", 1},
                       {"ready", 0},
                       {"terminating", 0},
                       {"uncountedTerminatedPods", json::object()},
                       {"conditions", json::array({{{"type", "Complete"}, {"status", "True"}}})}};
      });
    }
    for (const auto& ds : server.list(kDaemonSets)) {
      for (const auto& node : pinned_nodes(ds)) {
        json pod = pod_of(ds, node, false);
        if (pods.insert(pod["metadata"]["name"]).second) server.create(kPods, pod);
      }
    }
    if (!server.list(kJobs).empty()) return false;
    for (const auto& module : server.list(kModules))
      if (!module_ready(module)) return false;
    return true;
  }
};

std::size_t json_bytes(const std::vector<json>& objects) {
  std::size_t total = 0;
  for (const auto& o : objects) total += o.dump().size();
  return total;
}

}  // namespace

TEST_CASE("operator scale: 500 nodes on 20 kernels, 10 KernelModules", "[.][operator-scale]") {
  ckms::testkit::TempDir dir{"ckms-operator-scale"};
  ckms::testkit::RegistryFixture registry(ckms::testkit::RegistrySetup::open_http);
  test::FakeApiServer server;
  for (int i = 0; i < kNodeCount; ++i) server.create(kNodes, node(i));
  for (int i = 0; i < kModuleCount; ++i) server.create(kModules, kernel_module(i, registry.host()));
  ckms::testkit::write_text(dir / "kubeconfig",
                            fmt::format("apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                                        "clusters:\n- name: test\n  cluster:\n    server: {}\n"
                                        "users:\n- name: test\n  user: {{}}\n"
                                        "contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n"
                                        "    namespace: {}\n",
                                        server.url(), kNs));
  const std::string binary = std::string(CKMS_BINARY_DIR) + "/operator/ckms-operator";
  const std::string log_file = (dir / "operator.log").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> args{binary,         "--json",
                                "--kubeconfig", (dir / "kubeconfig").string(),
                                "--ckms-image", "registry.example/ckms/ckms:0.1.0"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  server.clear_requests();
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);

  Simulation simulation{server, registry};
  bool converged = false;
  while (!converged && std::chrono::steady_clock::now() - start < 600s) {
    converged = simulation.step();
    if (!converged) std::this_thread::sleep_for(100ms);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::size_t requests = server.requests().size();
  ::kill(pid, SIGTERM);
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  INFO(ckms::testkit::read_text(log_file).substr(0, 4000));
  REQUIRE(converged);
  CHECK(WIFEXITED(status));

  const double rss_mib = usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux
  const double watched_mib =
      (json_bytes(server.list(kNodes)) + json_bytes(server.list(kPods)) + json_bytes(server.list(kDaemonSets))) /
      1048576.0;
  std::cout << fmt::format(
      "operator-scale: nodes={} kernels={} modules={} pods={} builds={} converge_s={:.1f} requests={} "
      "peak_rss_mib={:.1f} watched_json_mib={:.1f} rss_per_watched={:.2f} cpu_s={:.1f}\n",
      kNodeCount, kKernelCount, kModuleCount, simulation.pods.size(), simulation.published, seconds, requests, rss_mib,
      watched_mib, rss_mib / watched_mib,
      usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6);
}
