#include "ckms/operator/kube_config.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "ckms/base/error.hpp"

namespace ckms::op {
namespace {

std::string read_file(const std::filesystem::path& file, std::string_view what) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorKind::not_found, "cannot read {} {}", what, file.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// A kubeconfig's named entry ("clusters", "users", "contexts") of that name, or throws.
YAML::Node find_named(const YAML::Node& root, const std::string& list, const std::string& name,
                      const std::filesystem::path& file) {
  const YAML::Node entries = root[list];
  if (entries && entries.IsSequence()) {
    for (const auto& entry : entries) {
      if (entry["name"] && entry["name"].as<std::string>() == name) {
        const std::string field = list == "clusters" ? "cluster" : list == "users" ? "user" : "context";
        if (!entry[field] || !entry[field].IsMap())
          fail(ErrorKind::usage, "kubeconfig {}: {} entry {} has no {} map", file.string(), list, name, field);
        return entry[field];
      }
    }
  }
  fail(ErrorKind::usage, "kubeconfig {}: no {} entry named {}", file.string(), list, name);
}

std::string string_field(const YAML::Node& node, const char* key) {
  return node[key] ? node[key].as<std::string>() : std::string();
}

// `<key>-data` (base64) or `<key>` (a file, relative to the kubeconfig's directory).
std::string pem_field(const YAML::Node& node, const std::string& key, const std::filesystem::path& file) {
  if (node[key + "-data"]) {
    return base64_decode(node[key + "-data"].as<std::string>(), "kubeconfig " + file.string() + " " + key + "-data");
  }
  if (node[key]) {
    std::filesystem::path path = node[key].as<std::string>();
    if (path.is_relative()) path = file.parent_path() / path;
    return read_file(path, "kubeconfig " + key);
  }
  return {};
}

}  // namespace

std::string KubeConfig::bearer_token() const {
  if (token_file) return trim(read_file(*token_file, "token file"));
  return token;
}

KubeConfig in_cluster_config(const std::filesystem::path& service_account_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || !*host || !*port)
    fail(ErrorKind::not_found, "not running in a pod: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set");
  KubeConfig config;
  const std::string h = host;
  // An IPv6 service address needs brackets in a URL.
  config.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  config.ca_pem = read_file(service_account_dir / "ca.crt", "service account CA");
  config.token_file = service_account_dir / "token";
  (void)config.bearer_token();  // fail now, not on the first request, when it is missing
  config.namespace_name = trim(read_file(service_account_dir / "namespace", "service account namespace"));
  config.describe = "in-cluster " + config.server;
  return config;
}

KubeConfig load_kubeconfig(const std::filesystem::path& file, const std::optional<std::string>& context) {
  YAML::Node root;
  try {
    root = YAML::Load(read_file(file, "kubeconfig"));
  } catch (const YAML::Exception& e) {
    fail(ErrorKind::usage, "kubeconfig {}: {}", file.string(), e.what());
  }
  try {
    const std::string context_name = context ? *context : string_field(root, "current-context");
    if (context_name.empty())
      fail(ErrorKind::usage, "kubeconfig {}: no current-context and no --context", file.string());
    const YAML::Node ctx = find_named(root, "contexts", context_name, file);
    const YAML::Node cluster = find_named(root, "clusters", string_field(ctx, "cluster"), file);
    const YAML::Node user = find_named(root, "users", string_field(ctx, "user"), file);

    KubeConfig config;
    config.server = string_field(cluster, "server");
    while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
    if (config.server.empty())
      fail(ErrorKind::usage, "kubeconfig {}: cluster of context {} has no server", file.string(), context_name);
    config.ca_pem = pem_field(cluster, "certificate-authority", file);
    config.insecure_skip_tls_verify =
        cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();
    config.client_cert_pem = pem_field(user, "client-certificate", file);
    config.client_key_pem = pem_field(user, "client-key", file);
    config.token = string_field(user, "token");
    if (user["tokenFile"]) {
      std::filesystem::path token_file = user["tokenFile"].as<std::string>();
      if (token_file.is_relative()) token_file = file.parent_path() / token_file;
      config.token_file = token_file;
    }
    for (const char* unsupported : {"exec", "auth-provider", "username"}) {
      if (user[unsupported])
        fail(ErrorKind::usage,
             "kubeconfig {}: user of context {} uses {}, which ckms-operator does not support "
             "(use a token, tokenFile or client certificate)",
             file.string(), context_name, unsupported);
    }
    if (config.client_cert_pem.empty() != config.client_key_pem.empty())
      fail(ErrorKind::usage,
           "kubeconfig {}: user of context {} has a client certificate without key or a key without certificate",
           file.string(), context_name);
    const std::string ns = string_field(ctx, "namespace");
    if (!ns.empty()) config.namespace_name = ns;
    config.describe = "kubeconfig " + file.string() + " context " + context_name;
    return config;
  } catch (const YAML::Exception& e) {
    fail(ErrorKind::usage, "kubeconfig {}: {}", file.string(), e.what());
  }
}

KubeConfig discover_config(const std::optional<std::filesystem::path>& kubeconfig,
                           const std::optional<std::string>& context) {
  if (kubeconfig) return load_kubeconfig(*kubeconfig, context);
  if (std::getenv("KUBERNETES_SERVICE_HOST") && !context) return in_cluster_config();
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    std::string first = env;
    first = first.substr(0, first.find(':'));
    return load_kubeconfig(first, context);
  }
  const char* home = std::getenv("HOME");
  if (!home) fail(ErrorKind::usage, "no --kubeconfig, not in a pod, and no $HOME to find ~/.kube/config");
  return load_kubeconfig(std::filesystem::path(home) / ".kube" / "config", context);
}

std::string base64_decode(std::string_view text, std::string_view what) {
  static constexpr auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t accumulator = 0;
  int bits = 0;
  bool padding = false;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    const int v = value_of(c);
    if (v < 0 || padding) fail(ErrorKind::usage, "{}: not base64", what);
    accumulator = (accumulator << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((accumulator >> bits) & 0xff));
    }
  }
  if (bits >= 6) fail(ErrorKind::usage, "{}: truncated base64", what);
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                            (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) | std::uint8_t(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(alphabet[(n >> shift) & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    if (rest == 2) n |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace ckms::op
