#pragma once
// Registry credentials and where they come from, in the order podman/skopeo and docker
// look: an explicit --authfile, $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
// then docker's $DOCKER_CONFIG/config.json (or ~/.docker/config.json). In each file a
// `credHelpers` entry for the host wins, then an `auths` entry, then `credsStore`.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckms::oci {

struct Credentials {
  std::string username;
  std::string password;
  // An OAuth2 refresh token (docker's "identitytoken"); used instead of the password at a
  // token endpoint.
  std::string identity_token;
};

// Runs `docker-credential-<helper> get` for a host; nullopt when it knows no credentials.
using CredentialHelper = std::function<std::optional<Credentials>(const std::string& helper, const std::string& host)>;

std::optional<Credentials> run_credential_helper(const std::string& helper, const std::string& host);

// Files consulted for credentials, most specific first (missing files are skipped later).
std::vector<std::filesystem::path> credential_files(const std::optional<std::filesystem::path>& auth_file);

// Where `login` writes: the explicit file, else $REGISTRY_AUTH_FILE, else
// $XDG_RUNTIME_DIR/containers/auth.json, else docker's config.json.
std::filesystem::path default_auth_file(const std::optional<std::filesystem::path>& auth_file);

// Credentials for `host` (host[:port]) in one auth.json / config.json document. Keys may
// carry a scheme and path ("https://index.docker.io/v1/"); docker.io also matches
// index.docker.io. Throws a usage error naming `where` when the document is malformed.
std::optional<Credentials> credentials_from_config(std::string_view json_text, std::string_view host,
                                                   std::string_view where,
                                                   const CredentialHelper& helper = run_credential_helper);

std::optional<Credentials> find_credentials(std::string_view host,
                                            const std::optional<std::filesystem::path>& auth_file);

// The key an auth file entry has for a registry ("https://index.docker.io/v1/" -> "index.docker.io").
std::string normalize_registry_key(std::string_view key);

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace ckms::oci
