#include "ckms/oci/auth_credentials.hpp"

#include <openssl/evp.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

namespace ckms::oci {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxAuthFileBytes = 4 << 20;

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

fs::path docker_config_file() {
  if (auto dir = env("DOCKER_CONFIG")) return fs::path(*dir) / "config.json";
  return fs::path(env("HOME").value_or("/root")) / ".docker" / "config.json";
}

// docker.io credentials are stored under index.docker.io (docker's legacy v1 address).
bool same_registry(std::string_view key, std::string_view host) {
  const std::string normalized = normalize_registry_key(key);
  if (normalized == host) return true;
  const auto is_docker_hub = [](std::string_view h) {
    return h == "docker.io" || h == "index.docker.io" || h == "registry-1.docker.io";
  };
  return is_docker_hub(normalized) && is_docker_hub(host);
}

const nlohmann::json* find_entry(const nlohmann::json& document, const char* section, std::string_view host) {
  const auto found = document.find(section);
  if (found == document.end() || !found->is_object()) return nullptr;
  const nlohmann::json& object = *found;
  // An exact key wins over one that only matches after normalisation.
  if (auto it = object.find(std::string(host)); it != object.end()) return &*it;
  for (const auto& [key, value] : object.items()) {
    if (same_registry(key, host)) return &value;
  }
  return nullptr;
}

std::optional<Credentials> from_auths_entry(const nlohmann::json& entry, std::string_view where,
                                            std::string_view host) {
  if (!entry.is_object()) return std::nullopt;
  Credentials credentials;
  if (auto it = entry.find("auth"); it != entry.end() && it->is_string() && !it->get<std::string>().empty()) {
    const auto decoded = base64_decode(it->get<std::string>());
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      fail(ErrorKind::usage, "{}: the \"auth\" entry for {} is not base64 of user:password", where, host);
    }
    credentials.username = decoded->substr(0, colon);
    credentials.password = decoded->substr(colon + 1);
  } else {
    credentials.username = entry.value("username", "");
    credentials.password = entry.value("password", "");
  }
  credentials.identity_token = entry.value("identitytoken", "");
  if (credentials.username.empty() && credentials.password.empty() && credentials.identity_token.empty()) {
    return std::nullopt;  // docker leaves empty entries behind when a credsStore holds the secret
  }
  return credentials;
}

}  // namespace

std::string normalize_registry_key(std::string_view key) {
  if (const auto scheme = key.find("://"); scheme != std::string_view::npos) key = key.substr(scheme + 3);
  key = key.substr(0, key.find('/'));
  return std::string(key);
}

std::vector<fs::path> credential_files(const std::optional<fs::path>& auth_file) {
  if (auth_file) return {*auth_file};
  std::vector<fs::path> files;
  if (auto file = env("REGISTRY_AUTH_FILE")) files.emplace_back(*file);
  if (auto dir = env("XDG_RUNTIME_DIR")) files.push_back(fs::path(*dir) / "containers" / "auth.json");
  files.push_back(docker_config_file());
  return files;
}

fs::path default_auth_file(const std::optional<fs::path>& auth_file) {
  if (auth_file) return *auth_file;
  if (auto file = env("REGISTRY_AUTH_FILE")) return *file;
  if (auto dir = env("XDG_RUNTIME_DIR")) return fs::path(*dir) / "containers" / "auth.json";
  return docker_config_file();
}

std::optional<Credentials> credentials_from_config(std::string_view json_text, std::string_view host,
                                                   std::string_view where, const CredentialHelper& helper) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::usage, "{}: not valid JSON: {}", where, e.what());
  }
  if (!document.is_object()) fail(ErrorKind::usage, "{}: expected a JSON object", where);
  if (const auto* name = find_entry(document, "credHelpers", host)) {
    if (name->is_string()) return helper(name->get<std::string>(), std::string(host));
  }
  if (const auto* entry = find_entry(document, "auths", host)) {
    if (auto credentials = from_auths_entry(*entry, where, host)) return credentials;
  }
  if (auto store = document.find("credsStore");
      store != document.end() && store->is_string() && !store->get<std::string>().empty()) {
    return helper(store->get<std::string>(), std::string(host));
  }
  return std::nullopt;
}

std::optional<Credentials> find_credentials(std::string_view host, const std::optional<fs::path>& auth_file) {
  for (const auto& file : credential_files(auth_file)) {
    std::error_code ec;
    if (!fs::exists(file, ec)) continue;
    if (auto credentials = credentials_from_config(read_file(file, kMaxAuthFileBytes), host, file.string())) {
      return credentials;
    }
  }
  return std::nullopt;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string clean;
  for (const char c : text) {
    if (c != '\n' && c != '\r' && c != ' ') clean += c;
  }
  // Some writers drop the padding; EVP_DecodeBlock needs it.
  while (clean.size() % 4 != 0) clean += '=';
  std::string out(clean.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return std::nullopt;
  std::size_t size = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes.
  for (std::size_t i = clean.size(); i > 0 && clean[i - 1] == '='; --i) --size;
  out.resize(size);
  return out;
}

}  // namespace ckms::oci
