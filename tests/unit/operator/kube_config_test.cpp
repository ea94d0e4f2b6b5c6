// kubeconfig files as kubectl writes them, and the in-cluster service account.

#include <catch2/catch.hpp>
#include <cstdlib>

#include "ckms/base/error.hpp"
#include "ckms/operator/kube_config.hpp"
#include "testkit.hpp"

using namespace ckms::op;
using ckms::testkit::TempDir;
using ckms::testkit::write_text;

namespace {
const std::string kCa = "-----BEGIN CERTIFICATE-----\nMIIBCA\n-----END CERTIFICATE-----\n";
const std::string kCert = "-----BEGIN CERTIFICATE-----\nMIIBCB\n-----END CERTIFICATE-----\n";
const std::string kKey = "-----BEGIN PRIVATE KEY-----\nMIIBCC\n-----END PRIVATE KEY-----\n";

std::string kubeconfig() {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "current-context: kind-ckms\n"
         "preferences: {}\n"
         "clusters:\n"
         "- name: kind-ckms\n"
         "  cluster:\n"
         "    certificate-authority-data: " +
         base64_encode(kCa) +
         "\n"
         "    server: https://127.0.0.1:6443/\n"
         "- name: staging\n"
         "  cluster:\n"
         "    certificate-authority: certs/ca.crt\n"
         "    server: https://staging.example:443\n"
         "contexts:\n"
         "- name: kind-ckms\n"
         "  context:\n"
         "    cluster: kind-ckms\n"
         "    user: kind-ckms\n"
         "- name: staging\n"
         "  context:\n"
         "    cluster: staging\n"
         "    namespace: ckms-system\n"
         "    user: robot\n"
         "- name: cloud\n"
         "  context:\n"
         "    cluster: staging\n"
         "    user: cloud\n"
         "users:\n"
         "- name: kind-ckms\n"
         "  user:\n"
         "    client-certificate-data: " +
         base64_encode(kCert) +
         "\n"
         "    client-key-data: " +
         base64_encode(kKey) +
         "\n"
         "- name: robot\n"
         "  user:\n"
         "    tokenFile: robot.token\n"
         "- name: cloud\n"
         "  user:\n"
         "    exec:\n"
         "      apiVersion: client.authentication.k8s.io/v1beta1\n"
         "      command: gke-gcloud-auth-plugin\n";
}
}  // namespace

TEST_CASE("base64 as kubeconfig and Secrets carry it", "[operator][config]") {
  for (const std::string& text : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
    CHECK(base64_decode(base64_encode(text), "test") == text);
  CHECK(base64_encode("ckms") == "Y2ttcw==");
  CHECK(base64_decode("Y2tt\ncw==", "test") == "ckms");
  CHECK_THROWS_WITH(base64_decode("Y2t*", "kubeconfig x"), Catch::Contains("kubeconfig x"));
}

TEST_CASE("kubeconfig contexts: inline certificates, files relative to the config, tokens", "[operator][config]") {
  TempDir dir("ckms-test-");
  write_text(dir / "config", kubeconfig());
  std::filesystem::create_directories(dir / "certs");
  write_text(dir / "certs" / "ca.crt", kCa);
  write_text(dir / "robot.token", "eyJhbGciOi.robot\n");

  const KubeConfig kind = load_kubeconfig(dir / "config");
  CHECK(kind.server == "https://127.0.0.1:6443");
  CHECK(kind.ca_pem == kCa);
  CHECK(kind.client_cert_pem == kCert);
  CHECK(kind.client_key_pem == kKey);
  CHECK(kind.namespace_name == "default");
  CHECK(kind.bearer_token().empty());

  const KubeConfig staging = load_kubeconfig(dir / "config", "staging");
  CHECK(staging.server == "https://staging.example:443");
  CHECK(staging.ca_pem == kCa);
  CHECK(staging.namespace_name == "ckms-system");
  CHECK(staging.bearer_token() == "eyJhbGciOi.robot");
  // Rotated on disk: the next request sends the new token.
  write_text(dir / "robot.token", "eyJhbGciOi.rotated");
  CHECK(staging.bearer_token() == "eyJhbGciOi.rotated");

  CHECK_THROWS_WITH(load_kubeconfig(dir / "config", "cloud"), Catch::Contains("exec"));
  CHECK_THROWS_WITH(load_kubeconfig(dir / "config", "nowhere"), Catch::Contains("no contexts entry named nowhere"));
  write_text(dir / "broken", "clusters: [\n");
  CHECK_THROWS_AS(load_kubeconfig(dir / "broken"), ckms::Error);
  CHECK_THROWS_AS(load_kubeconfig(dir / "missing"), ckms::Error);
}

TEST_CASE("in-cluster: the service account's files and the service environment", "[operator][config]") {
  TempDir dir("ckms-test-");
  write_text(dir / "ca.crt", kCa);
  write_text(dir / "token", "sa-token\n");
  write_text(dir / "namespace", "ckms-system");
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  const KubeConfig config = in_cluster_config(dir.path());
  CHECK(config.server == "https://10.96.0.1:443");
  CHECK(config.ca_pem == kCa);
  CHECK(config.bearer_token() == "sa-token");
  CHECK(config.namespace_name == "ckms-system");

  ::setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  CHECK(in_cluster_config(dir.path()).server == "https://[fd00::1]:443");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  CHECK_THROWS_WITH(in_cluster_config(dir.path()), Catch::Contains("not running in a pod"));
}
