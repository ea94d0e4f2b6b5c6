// The served API refuses what kube-apiserver refuses (the 422 a real cluster answers), and
// behaves as it does for deletion, paging and filtered watches: the suite can only catch
// what the API server in it would catch.

#include <catch2/catch.hpp>

#include <thread>

#include "ckms/operator/kube_client.hpp"
#include "ckms/operator/resources.hpp"
#include "ckms/operator/watch.hpp"
#include "fake_apiserver.hpp"

using namespace ckms::op;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kDaemonSets = "/apis/apps/v1/namespaces/ns/daemonsets";
const std::string kJobs = "/apis/batch/v1/namespaces/ns/jobs";
const std::string kPods = "/api/v1/namespaces/ns/pods";

json pod_template(json pod_spec) {
  pod_spec["containers"] = json::array({{{"name", "load"}, {"image", "x:1"}}});
  return {{"metadata", {{"labels", {{"app", "x"}}}}}, {"spec", pod_spec}};
}

json daemon_set(const std::string& name, json pod_spec) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "DaemonSet"},
          {"metadata", {{"name", name}}},
          {"spec", {{"selector", {{"matchLabels", {{"app", "x"}}}}}, {"template", pod_template(std::move(pod_spec))}}}};
}

json pinned(const std::vector<std::string>& nodes) {
  return {{"affinity",
           {{"nodeAffinity",
             {{"requiredDuringSchedulingIgnoredDuringExecution",
               {{"nodeSelectorTerms", json::array({{{"matchFields", json::array({{{"key", "metadata.name"},
                                                                                  {"operator", "In"},
                                                                                  {"values", nodes}}})}}})}}}}}}}};
}

// The reply to POSTing `object` to `collection`, and the fields its causes name.
std::pair<long, std::vector<std::string>> post(KubeClient& client, const std::string& collection, const json& object) {
  const std::string body = object.dump();
  const ApiReply reply = client.send("POST", collection, &body);
  std::vector<std::string> fields;
  const json status = json::parse(reply.body);
  if (reply.status == 422) {
    CHECK(status["reason"] == "Invalid");
    for (const auto& c : status["details"]["causes"]) fields.push_back(c["field"]);
  }
  return {reply.status, fields};
}

struct Served {
  test::FakeApiServer server;
  KubeConfig config() const {
    KubeConfig c;
    c.server = server.url();
    return c;
  }
};

}  // namespace

TEST_CASE("fake API server: refuses what kube-apiserver validation refuses", "[operator][apiserver]") {
  Served served;
  KubeClient client(served.config());

  SECTION("a node field selector takes one value (ValidateNodeFieldSelectorRequirement)") {
    CHECK(post(client, kDaemonSets, daemon_set("one", pinned({"n1"}))).first == 201);
    const auto [code, fields] = post(client, kDaemonSets, daemon_set("two", pinned({"n1", "n2"})));
    CHECK(code == 422);
    CHECK(fields == std::vector<std::string>{
                        "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
                        "nodeSelectorTerms[0].matchFields[0].values"});
    json other_key = pinned({"n1"});
    other_key["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
             ["matchFields"][0]["key"] = "metadata.labels";
    CHECK(post(client, kDaemonSets, daemon_set("three", other_key)).first == 422);
  }
  SECTION("label values of at most 63 characters (IsValidLabelValue)") {
    json ds = daemon_set("labels", json::object());
    ds["metadata"]["labels"] = {{"ckms.io/kernelmodule", std::string(64, 'a')}};
    CHECK(post(client, kDaemonSets, ds).second == std::vector<std::string>{"metadata.labels[ckms.io/kernelmodule]"});
    ds["metadata"]["labels"] = {{"bad key!", "v"}};
    CHECK(post(client, kDaemonSets, ds).first == 422);
  }
  SECTION("object names are DNS subdomains, and a Job's name is a label of its pods") {
    CHECK(post(client, kDaemonSets, daemon_set("Upper", json::object())).first == 422);
    json job = {{"apiVersion", "batch/v1"},
                {"kind", "Job"},
                {"metadata", {{"name", std::string(64, 'j')}}},
                {"spec", {{"template", pod_template({{"restartPolicy", "Never"}})}}}};
    const auto [code, fields] = post(client, kJobs, job);
    CHECK(code == 422);
    CHECK(std::find(fields.begin(), fields.end(), "spec.template.metadata.labels[job-name]") != fields.end());
    job["metadata"]["name"] = std::string(63, 'j');
    CHECK(post(client, kJobs, job).first == 201);
    const json stored = served.server.get(kJobs, std::string(63, 'j')).value();
    CHECK(stored["spec"]["backoffLimit"] == 6);  // defaulted
    CHECK(stored["spec"]["selector"]["matchLabels"].contains("batch.kubernetes.io/controller-uid"));
  }
  SECTION("tolerations (ValidateTolerations)") {
    const auto refused = [&](const json& toleration) {
      return post(client, kDaemonSets, daemon_set("t", {{"tolerations", json::array({toleration})}})).first == 422;
    };
    CHECK(refused({{"key", "k"}, {"operator", "Exists"}, {"value", "v"}}));
    CHECK(refused({{"key", "k"}, {"operator", "Exists"}, {"effect", "NoSchedule"}, {"tolerationSeconds", 5}}));
    CHECK(refused({{"operator", "Equal"}, {"value", "v"}}));
    CHECK(refused({{"key", "k"}, {"operator", "In"}}));
    CHECK(refused({{"key", "k"}, {"effect", "Sometimes"}}));
    CHECK_FALSE(refused({{"key", "k"}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", 5}}));
  }
  SECTION("a container's termination message policy (validateContainerCommon), defaulted to File") {
    json ds = daemon_set("policy", json::object());
    ds["spec"]["template"]["spec"]["containers"][0]["terminationMessagePolicy"] = "FromLogs";
    const auto [code, fields] = post(client, kDaemonSets, ds);
    CHECK(code == 422);
    CHECK(fields == std::vector<std::string>{"spec.template.spec.containers[0].terminationMessagePolicy"});
    ds["spec"]["template"]["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError";
    CHECK(post(client, kDaemonSets, ds).first == 201);
    CHECK(post(client, kDaemonSets, daemon_set("defaulted", json::object())).first == 201);
    const json stored = served.server.get(kDaemonSets, "defaulted").value();
    CHECK(stored["spec"]["template"]["spec"]["containers"][0]["terminationMessagePolicy"] == "File");
  }
}

TEST_CASE("fake API server: immutable fields, deletion and paging as kube-apiserver", "[operator][apiserver]") {
  Served served;
  KubeClient client(served.config());
  REQUIRE(post(client, kDaemonSets, daemon_set("ds", pinned({"n1"}))).first == 201);
  json ds = served.server.get(kDaemonSets, "ds").value();
  CHECK(ds["spec"]["updateStrategy"]["type"] == "RollingUpdate");  // defaulted

  SECTION("a DaemonSet's selector is immutable (ValidateDaemonSetUpdate)") {
    ds["spec"]["selector"]["matchLabels"]["more"] = "y";
    ds["spec"]["template"]["metadata"]["labels"]["more"] = "y";
    try {
      client.replace(kDaemonSets + "/ds", ds);
      FAIL("accepted");
    } catch (const ApiError& e) {
      CHECK(e.status() == 422);
      CHECK_THAT(e.what(), Catch::Contains("spec.selector: field is immutable"));
    }
  }
  SECTION("a Job's template is immutable (ValidateJobSpecUpdate)") {
    json job = {{"apiVersion", "batch/v1"},
                {"kind", "Job"},
                {"metadata", {{"name", "build"}}},
                {"spec", {{"template", pod_template({{"restartPolicy", "Never"}})}}}};
    job = client.create(kJobs, job);
    job["spec"]["template"]["spec"]["containers"][0]["image"] = "x:2";
    CHECK_THROWS_AS(client.replace(kJobs + "/build", job), ApiError);
  }
  SECTION("propagationPolicy decides whether dependents go; finalizers hold an object") {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", "ds-1"}, {"ownerReferences", json::array({{{"uid", ds["metadata"]["uid"]}}})}}}};
    served.server.create(kPods, pod);
    const std::string keep = "{\"propagationPolicy\":\"Orphan\"}";
    REQUIRE(client.send("DELETE", kDaemonSets + "/ds", &keep).status == 200);
    CHECK(served.server.get(kPods, "ds-1"));
    REQUIRE(post(client, kDaemonSets, daemon_set("ds2", json::object())).first == 201);
    const json ds2 = served.server.get(kDaemonSets, "ds2").value();
    pod["metadata"] = {{"name", "ds2-1"}, {"ownerReferences", json::array({{{"uid", ds2["metadata"]["uid"]}}})}};
    served.server.create(kPods, pod);
    served.server.update(kDaemonSets, "ds2", [](json& o) { o["metadata"]["finalizers"] = {"example.com/hold"}; });
    CHECK(client.remove(kDaemonSets + "/ds2"));
    json held = served.server.get(kDaemonSets, "ds2").value();
    CHECK(held["metadata"].contains("deletionTimestamp"));
    CHECK(served.server.get(kPods, "ds2-1"));
    held["metadata"]["finalizers"] = json::array();
    client.replace(kDaemonSets + "/ds2", held);
    CHECK_FALSE(served.server.get(kDaemonSets, "ds2"));
    CHECK_FALSE(served.server.get(kPods, "ds2-1"));  // background: the dependents went too
  }
  SECTION("the pages of one list come from one snapshot") {
    for (int i = 0; i < 4; ++i) served.server.create(kPods, {{"metadata", {{"name", fmt::format("p{}", i)}}}});
    const json first = client.get(kPods + "?limit=2");
    served.server.remove(kPods, "p0");  // would shift the second page without a snapshot
    const json second = client.get(kPods + "?limit=2&continue=" + first["metadata"]["continue"].get<std::string>());
    CHECK(second["items"].size() == 2);
    CHECK(second["items"][0]["metadata"]["name"] == "p2");
    CHECK(second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]);
  }
}

TEST_CASE("fake API server: a label change moves an object into and out of a filtered watch", "[operator][apiserver]") {
  Served served;
  WatchOptions options;
  options.initial_backoff = 20ms;
  options.watch_timeout = 30s;
  std::atomic<int> added{0}, deleted{0};
  Informer informer(
      served.config(), resource::pods, "ns", "app=x", [&](const json&, bool gone) { (gone ? deleted : added) += 1; },
      options);
  std::atomic<bool> stop{false};
  std::thread thread([&] { informer.run(stop); });
  const auto until = [](const std::function<bool()>& condition) {
    for (int i = 0; i < 500 && !condition(); ++i) std::this_thread::sleep_for(20ms);
    return condition();
  };
  REQUIRE(until([&] { return served.server.open_watches() == 1; }));
  served.server.create(kPods, {{"metadata", {{"name", "p"}, {"labels", {{"app", "y"}}}}}});
  served.server.update(kPods, "p", [](json& p) { p["metadata"]["labels"]["app"] = "x"; });
  CHECK(until([&] { return informer.find("ns/p").has_value(); }));
  served.server.update(kPods, "p", [](json& p) { p["metadata"]["labels"]["app"] = "z"; });
  CHECK(until([&] { return !informer.find("ns/p").has_value(); }));
  CHECK(deleted == 1);

  // Expiry answered as a 410 reply rather than an ERROR event: the informer lists again.
  served.server.compact(true);
  served.server.create(kPods, {{"metadata", {{"name", "q"}, {"labels", {{"app", "x"}}}}}});
  CHECK(until([&] { return informer.find("ns/q").has_value() && informer.stats().expired >= 1; }));
  stop = true;
  thread.join();
}
