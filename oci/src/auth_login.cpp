// login/logout: credentials are checked against the registry before they are stored, and
// the auth file is rewritten atomically (mode 0600) keeping every entry it had.

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/registry.hpp"

namespace ckms::oci {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxAuthFileBytes = 4 << 20;

nlohmann::json load(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return nlohmann::json::object();
  const std::string text = read_file(file, kMaxAuthFileBytes);
  auto document = nlohmann::json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    fail(ErrorKind::usage, "{}: not a JSON object; refusing to overwrite it", file.string());
  }
  return document;
}

void store(const fs::path& file, const nlohmann::json& document) {
  if (file.has_parent_path()) {
    std::error_code ec;
    if (fs::create_directories(file.parent_path(), ec)) ::chmod(file.parent_path().c_str(), 0700);
    if (ec) fail(ErrorKind::io, "cannot create {}: {}", file.parent_path().string(), ec.message());
  }
  AtomicFile out(file);
  out.write(document.dump(2) + "\n");
  out.commit(std::nullopt, std::nullopt, 0600);
}

}  // namespace

fs::path login(std::string_view host, const Credentials& credentials, const RegistryOptions& options) {
  RegistryOptions checked = options;
  checked.credentials = credentials;
  RegistryReference reference;
  reference.registry = std::string(host);
  reference.repository = "ckms-login-check";
  try {
    RegistryRepository(reference, checked).ping();
  } catch (const Error& e) {
    fail(e.kind(), "login to {} failed: {}", host, e.what());
  }
  const fs::path file = default_auth_file(options.auth_file);
  nlohmann::json document = load(file);
  if (!document.contains("auths") || !document["auths"].is_object()) document["auths"] = nlohmann::json::object();
  document["auths"][std::string(host)] = {{"auth", base64_encode(credentials.username + ":" + credentials.password)}};
  store(file, document);
  return file;
}

bool logout(std::string_view host, const std::optional<fs::path>& auth_file) {
  const fs::path file = default_auth_file(auth_file);
  nlohmann::json document = load(file);
  auto auths = document.find("auths");
  if (auths == document.end() || !auths->is_object()) return false;
  bool removed = false;
  for (auto it = auths->begin(); it != auths->end();) {
    if (normalize_registry_key(it.key()) == host) {
      it = auths->erase(it);
      removed = true;
    } else {
      ++it;
    }
  }
  if (removed) store(file, document);
  return removed;
}

}  // namespace ckms::oci
