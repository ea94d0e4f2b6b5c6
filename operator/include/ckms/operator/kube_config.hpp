#pragma once
// Where the API server is and how to prove who we are: from the pod's service account
// (in-cluster) or from a kubeconfig file (yaml-cpp). Certificates and keys are kept as PEM
// text so that kubeconfig's `*-data` fields never touch the disk.

#include <filesystem>
#include <optional>
#include <string>

namespace ckms::op {

struct KubeConfig {
  std::string server;  // "https://10.0.0.1:443", no trailing slash
  // Trusted CA bundle (PEM); the system bundle when empty.
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;
  // Read again before each request: projected service account tokens rotate on disk.
  std::optional<std::filesystem::path> token_file;
  std::string namespace_name = "default";
  std::string describe;  // "in-cluster" or "kubeconfig /root/.kube/config context kind"

  // The bearer token to send now (token_file wins over token when both are set).
  std::string bearer_token() const;
};

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// KUBERNETES_SERVICE_HOST/PORT and the service account's token, ca.crt and namespace.
// Throws not_found when not running in a pod.
KubeConfig in_cluster_config(const std::filesystem::path& service_account_dir = kServiceAccountDir);

// The context `context` (or current-context) of a kubeconfig. Relative file paths in it
// are relative to the file's directory, as kubectl reads them. Throws usage errors naming
// the file and the field for what it cannot use (exec plugins, auth providers).
KubeConfig load_kubeconfig(const std::filesystem::path& file, const std::optional<std::string>& context = std::nullopt);

// --kubeconfig when given, else in-cluster when in a pod, else $KUBECONFIG (first entry),
// else ~/.kube/config.
KubeConfig discover_config(const std::optional<std::filesystem::path>& kubeconfig,
                           const std::optional<std::string>& context);

// RFC 4648 base64 as kubeconfig's *-data fields and Secrets carry it.
std::string base64_decode(std::string_view text, std::string_view what);
std::string base64_encode(std::string_view bytes);

}  // namespace ckms::op
