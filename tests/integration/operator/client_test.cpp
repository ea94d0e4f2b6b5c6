// The API client and informers against a served API: TLS with token or client
// certificate, paged lists, watches with bookmarks, 410 relists, dropped connections,
// 409 conflicts.

#include <catch2/catch.hpp>

#include <mutex>
#include <thread>

#include "ckms/operator/apply.hpp"
#include "ckms/operator/cache_trim.hpp"
#include "ckms/operator/watch.hpp"
#include "fake_apiserver.hpp"
#include "testkit.hpp"

using namespace ckms::op;
using namespace std::chrono_literals;
using ckms::testkit::TempDir;
using nlohmann::json;

namespace {

const std::string kNodes = "/api/v1/nodes";

json node(const std::string& name, const std::string& kernel) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
          {"status", {{"nodeInfo", {{"kernelVersion", kernel}}}}}};
}

// Polls until `condition` holds (the informer runs on its own thread).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

struct TlsCluster {
  TempDir dir{"ckms-apiserver"};
  test::TlsFiles files = test::make_tls_files(dir.path());
  test::FakeApiServer server{test::FakeApiOptions{files, false, "s3cret-token"}};

  KubeConfig config() const {
    KubeConfig c;
    c.server = server.url();
    c.ca_pem = ckms::testkit::read_text(files.ca_cert);
    c.token = "s3cret-token";
    return c;
  }
};

WatchOptions fast() {
  WatchOptions w;
  w.initial_backoff = 20ms;
  w.max_backoff = 200ms;
  w.page_size = 3;
  w.watch_timeout = 30s;
  return w;
}

// An informer on its own thread, stopped and joined at scope end.
struct Running {
  Informer& informer;
  std::atomic<bool> stop{false};
  std::thread thread{[this] { informer.run(stop); }};
  ~Running() {
    stop = true;
    thread.join();
  }
};

}  // namespace

TEST_CASE("TLS: the cluster CA and a bearer token; wrong CA or token are told apart", "[operator][client]") {
  TlsCluster cluster;
  cluster.server.create(kNodes, node("worker-a1", "6.1.0-47-cloud-amd64"));
  KubeClient client(cluster.config());
  CHECK(client.get(kNodes + "/worker-a1")["status"]["nodeInfo"]["kernelVersion"] == "6.1.0-47-cloud-amd64");
  try {
    client.get(kNodes + "/worker-zz");
    FAIL("no 404");
  } catch (const ApiError& e) {
    CHECK(e.status() == 404);
    CHECK(e.reason() == "NotFound");
    CHECK(e.kind() == ckms::ErrorKind::not_found);
  }

  KubeConfig wrong_token = cluster.config();
  wrong_token.token = "guess";
  try {
    KubeClient(wrong_token).get(kNodes);
    FAIL("no 401");
  } catch (const ApiError& e) {
    CHECK(e.status() == 401);
    CHECK(e.kind() == ckms::ErrorKind::auth);
  }

  KubeConfig system_ca = cluster.config();
  system_ca.ca_pem.clear();  // our CA is in no system bundle
  try {
    KubeClient(system_ca).get(kNodes);
    FAIL("TLS accepted an unknown CA");
  } catch (const ckms::Error& e) {
    CHECK(e.kind() == ckms::ErrorKind::network);
  }
}

TEST_CASE("TLS: a client certificate from the kubeconfig", "[operator][client]") {
  TempDir dir{"ckms-apiserver"};
  const auto files = test::make_tls_files(dir.path());
  test::FakeApiServer server(test::FakeApiOptions{files, true, ""});
  server.create(kNodes, node("worker-a1", "6.1.0-47-cloud-amd64"));
  const std::string kubeconfig = fmt::format(
      "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
      "clusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority: {}\n"
      "users:\n- name: test\n  user:\n    client-certificate: {}\n    client-key: {}\n"
      "contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n",
      server.url(), files.ca_cert.string(), files.client_cert.string(), files.client_key.string());
  ckms::testkit::write_text(dir / "kubeconfig", kubeconfig);
  const KubeConfig config = load_kubeconfig(dir / "kubeconfig");
  CHECK(KubeClient(config).get(kNodes)["items"].size() == 1);

  KubeConfig anonymous = config;
  anonymous.client_cert_pem.clear();
  anonymous.client_key_pem.clear();
  CHECK_THROWS_AS(KubeClient(anonymous).get(kNodes), ckms::Error);
}

TEST_CASE("informer: paged list, then watch events and bookmarks", "[operator][client][watch]") {
  TlsCluster cluster;
  for (int i = 0; i < 7; ++i) cluster.server.create(kNodes, node(fmt::format("worker-{}", i), "6.1.0-47-cloud-amd64"));
  std::atomic<int> changes{0};
  Informer informer(
      cluster.config(), resource::nodes, "", "", [&](const json&, bool) { ++changes; }, fast());
  informer.list();
  CHECK(informer.snapshot().size() == 7);
  CHECK(changes == 7);
  int list_requests = 0;
  for (const auto& r : cluster.server.requests())
    list_requests += r.path == kNodes && r.query.find("watch") == std::string::npos;
  CHECK(list_requests == 3);  // 7 nodes, pages of 3
  // Items from a list get their kind back, as watch events have it.
  CHECK(informer.find("worker-0")->value("kind", "") == "Node");

  Running running{informer};
  cluster.server.update(kNodes, "worker-3",
                        [](json& n) { n["status"]["nodeInfo"]["kernelVersion"] = "6.1.0-56-cloud-amd64"; });
  cluster.server.remove(kNodes, "worker-6");
  cluster.server.create(kNodes, node("worker-new", "6.1.0-56-cloud-amd64"));
  REQUIRE(eventually([&] {
    const auto moved = informer.find("worker-3");
    return informer.snapshot().size() == 7 && !informer.find("worker-6") && informer.find("worker-new") && moved &&
           (*moved)["status"]["nodeInfo"]["kernelVersion"] == "6.1.0-56-cloud-amd64";
  }));
  // With nothing happening, bookmarks still move the resourceVersion on.
  REQUIRE(eventually([&] { return informer.stats().bookmarks >= 2; }));
  CHECK(informer.stats().events == 3);
  CHECK(informer.stats().lists == 1);
  CHECK(informer.stats().expired == 0);
}

TEST_CASE("informer: a transform cuts objects from lists and watches before they are cached",
          "[operator][client][watch]") {
  TlsCluster cluster;
  // What a kubelet reports beside the kernel: none of it is the operator's business.
  const auto whole_node = [](const std::string& name, const std::string& kernel) {
    json n = node(name, kernel);
    n["status"]["addresses"] = json::array({{{"type", "InternalIP"}, {"address", "10.0.0.7"}}});
    n["metadata"]["managedFields"] = json::array({{{"manager", "kubelet"}, {"operation", "Update"}}});
    return n;
  };
  cluster.server.create(kNodes, whole_node("worker-0", "6.1.0-47-cloud-amd64"));
  std::vector<json> told;
  std::mutex told_mutex;
  Informer informer(
      cluster.config(), resource::nodes, "", "",
      [&](const json& object, bool) {
        std::lock_guard lock(told_mutex);
        told.push_back(object);
      },
      fast());
  informer.set_transform(trim_node);
  informer.list();
  Running running{informer};
  cluster.server.create(kNodes, whole_node("worker-1", "6.1.0-56-cloud-amd64"));
  REQUIRE(eventually([&] { return informer.snapshot().size() == 2; }));
  for (const auto& n : informer.snapshot()) CHECK(n == trim_node(n));
  CHECK(informer.find("worker-1").value()["status"]["nodeInfo"]["kernelVersion"] == "6.1.0-56-cloud-amd64");
  std::lock_guard lock(told_mutex);
  REQUIRE(told.size() == 2);
  for (const auto& n : told) {
    CHECK_FALSE(n["status"].contains("addresses"));
    CHECK_FALSE(n["metadata"].contains("managedFields"));
  }
}

TEST_CASE("informer: a compacted version makes it list again, and it misses nothing", "[operator][client][watch]") {
  TlsCluster cluster;
  cluster.server.create(kNodes, node("worker-a1", "6.1.0-47-cloud-amd64"));
  cluster.server.create(kNodes, node("worker-a2", "6.1.0-47-cloud-amd64"));
  std::atomic<int> deletions{0};
  Informer informer(
      cluster.config(), resource::nodes, "", "", [&](const json&, bool deleted) { deletions += deleted; }, fast());
  Running running{informer};
  REQUIRE(eventually([&] { return informer.synced() && cluster.server.open_watches() == 1; }));

  // History is gone, and a node went while the watch was ended: only a relist can tell.
  cluster.server.compact();
  cluster.server.remove(kNodes, "worker-a2");
  cluster.server.compact();
  REQUIRE(eventually([&] { return informer.stats().expired >= 1 && !informer.find("worker-a2"); }));
  CHECK(informer.stats().lists >= 2);
  CHECK(deletions == 1);  // the relist reported the removal it found
  CHECK(informer.find("worker-a1"));
}

TEST_CASE("informer: dropped watches reconnect from the last version", "[operator][client][watch]") {
  TlsCluster cluster;
  cluster.server.create(kNodes, node("worker-a1", "6.1.0-47-cloud-amd64"));
  Informer informer(
      cluster.config(), resource::nodes, "", "", [](const json&, bool) {}, fast());
  std::atomic<int> errors{0};
  informer.on_error([&](const std::string&, bool expired) { errors += !expired; });
  informer.list();
  cluster.server.drop_watches(2, 1);  // two watches drop after one event, mid-way into the next
  Running running{informer};
  for (int i = 0; i < 6; ++i) cluster.server.create(kNodes, node(fmt::format("worker-b{}", i), "6.1.0-56-cloud-amd64"));
  REQUIRE(eventually([&] { return informer.snapshot().size() == 7; }));
  CHECK(informer.stats().reconnects >= 2);
  CHECK(errors == informer.stats().reconnects);  // every drop was reported before the retry
  CHECK(informer.stats().lists == 1);            // resumed, not relisted
  CHECK(informer.stats().events == 6);           // every event applied once: the torn ones were resent
}

TEST_CASE("informer: the server ending watches is routine", "[operator][client][watch]") {
  TlsCluster cluster;
  Informer informer(
      cluster.config(), resource::nodes, "", "", [](const json&, bool) {}, fast());
  Running running{informer};
  REQUIRE(eventually([&] { return cluster.server.open_watches() == 1; }));
  cluster.server.end_watches();
  cluster.server.create(kNodes, node("worker-a1", "6.1.0-47-cloud-amd64"));
  REQUIRE(eventually([&] { return informer.find("worker-a1").has_value(); }));
  CHECK(informer.stats().watches >= 2);
  CHECK(informer.stats().reconnects == 0);
}

TEST_CASE("informer: stops within a second of being told", "[operator][client][watch]") {
  TlsCluster cluster;
  Informer informer(
      cluster.config(), resource::nodes, "", "", [](const json&, bool) {}, fast());
  std::atomic<bool> stop{false};
  std::thread thread([&] { informer.run(stop); });
  REQUIRE(eventually([&] { return cluster.server.open_watches() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  stop = true;
  thread.join();
  CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("updates meet 409 Conflict and retry from a fresh read", "[operator][client][apply]") {
  TlsCluster cluster;
  const json stored = cluster.server.create(kNodes, node("worker-a1", "6.1.0-47-cloud-amd64"));
  KubeClient client(cluster.config());
  const auto label = [](const std::string& value) {
    return [value](json& n) { n["metadata"]["labels"]["ckms.io/test"] = value; };
  };

  // A genuine conflict: someone wrote since we read.
  cluster.server.update(kNodes, "worker-a1", [](json& n) { n["metadata"]["labels"]["other"] = "writer"; });
  int conflicts = 0;
  const json updated = replace_with_retry(client, kNodes + "/worker-a1", stored, label("one"), 5, &conflicts);
  CHECK(conflicts == 1);
  CHECK(updated["metadata"]["labels"]["ckms.io/test"] == "one");
  CHECK(updated["metadata"]["labels"]["other"] == "writer");  // their change survived ours

  cluster.server.conflict_next_updates("/worker-a1", 3);
  conflicts = 0;
  replace_with_retry(client, kNodes + "/worker-a1", updated, label("two"), 5, &conflicts);
  CHECK(conflicts == 3);

  cluster.server.conflict_next_updates("/worker-a1", 10);
  try {
    replace_with_retry(client, kNodes + "/worker-a1", *cluster.server.get(kNodes, "worker-a1"), label("three"), 3);
    FAIL("gave up silently");
  } catch (const ApiError& e) {
    CHECK(e.status() == 409);
  }
  CHECK(cluster.server.get(kNodes, "worker-a1").value()["metadata"]["labels"]["ckms.io/test"] == "two");

  // A merge patch needs no resourceVersion: it cannot conflict.
  const std::string patch = R"({"metadata":{"labels":{"ckms.io/test":null,"patched":"yes"}}})";
  const ApiReply reply = client.send("PATCH", kNodes + "/worker-a1", &patch, "application/merge-patch+json");
  CHECK(reply.status == 200);
  const json patched = cluster.server.get(kNodes, "worker-a1").value();
  CHECK(patched["metadata"]["labels"]["patched"] == "yes");
  CHECK_FALSE(patched["metadata"]["labels"].contains("ckms.io/test"));
  CHECK(patched["metadata"]["labels"]["other"] == "writer");
  CHECK(client.remove(kNodes + "/worker-a1"));
  CHECK_FALSE(client.remove(kNodes + "/worker-a1"));  // already gone: not an error
}
