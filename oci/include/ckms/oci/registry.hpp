#pragma once
// A repository in a registry (OCI distribution-spec v1.1) as a Target: resolve, fetch,
// push, tag, tags and referrers over HTTP(S), with Basic or Bearer-token auth, retries
// with backoff, redirects to blob storage, resumed downloads, streamed uploads and flat
// memory for any blob size. One RegistryRepository may be used from several threads at once
// (each Reader that fetch() returns by one thread at a time). docs/registry.md describes
// the flows.

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ckms/base/error.hpp"
#include "ckms/oci/auth_credentials.hpp"
#include "ckms/oci/reference.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::oci {

struct RegistryOptions {
  // http:// instead of https://, for a registry on loopback only: anything else is refused,
  // because credentials and artifacts would cross the network in clear.
  bool plain_http = false;
  // Registries ("host" or "host:port") the user named as reachable over plain http, the
  // host-scoped opt-in of docker's --insecure-registry and of containers-registries.conf(5)'s
  // `insecure = true`: a registry listed here is spoken to over http even when it is not
  // loopback, and it is the only way a non-loopback host gets credentials over http.
  std::vector<std::string> insecure_registries;
  // Pages a tag or referrers listing may take before it is refused as endless.
  int max_list_pages = 1000;
  // Trust this CA bundle instead of the system's.
  std::optional<std::filesystem::path> ca_cert;
  // From --username and --password-stdin; when absent, credential files are consulted.
  std::optional<Credentials> credentials;
  // --authfile: the only credential file consulted when set.
  std::optional<std::filesystem::path> auth_file;
  // Attempts per request for connection errors, 429 and 500/502/503/504.
  int max_attempts = 4;
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{30'000};
  std::string user_agent = "ckms";
  // Blobs smaller than this go up from memory in one PUT, which any failure can replay.
  // Larger ones (and blobs of unknown size) stream from their Reader in one PATCH, so memory
  // stays flat and the upload runs while the Reader's source is still arriving.
  std::uint64_t buffered_upload_limit = 1 << 20;
  int max_redirects = 5;
  // A transfer slower than 1 byte/s for this long is dropped and retried (HttpOptions).
  std::chrono::seconds stall_timeout{60};
  // A connection not established within this is dropped and retried (HttpOptions).
  std::chrono::milliseconds connect_timeout{30'000};
  // Page size asked of tag listings (`n=`); the registry may return fewer per page.
  int tags_page_size = 1000;
  std::size_t stream_buffer = 1 << 20;
};

class RegistryClient;

// Whether `options` talk plain http to `registry` (host[:port]): --plain-http for a loopback
// host, or a host named in insecure_registries. Refused (ErrorKind::refused) when plain_http
// is asked for a host that is neither, naming the opt-in to use.
bool uses_plain_http(const RegistryOptions& options, std::string_view registry);

// A streamed blob upload that failed after it had taken bytes from its Reader (connection
// reset, or a 5xx reply mid-body). Those bytes cannot be sent again from that Reader, but
// pushing again from a fresh one can succeed: copy() does so. The registry committed nothing
// (the upload session is cancelled).
class InterruptedUpload : public Error {
 public:
  explicit InterruptedUpload(const std::string& message) : Error(ErrorKind::network, message) {}
};

class RegistryRepository final : public Target {
 public:
  RegistryRepository(RegistryReference reference, RegistryOptions options);
  ~RegistryRepository() override;

  std::string describe() const override;
  Descriptor resolve(std::string_view tag_or_digest) override;
  bool exists(const Descriptor& descriptor) override;
  std::unique_ptr<Reader> fetch(const Descriptor& descriptor) override;
  // A blob is first mounted from a repository of the same registry that this process has seen
  // holding it (note_holds, or an earlier fetch, check or push), then checked for, then
  // uploaded (docs/registry.md, "Cross-repository mounts").
  Stored push(const Descriptor& descriptor, Reader& content, const ProgressFn& progress = {}) override;
  void tag(const Descriptor& manifest, std::string_view tag) override;
  std::vector<std::string> tags() override;
  std::vector<Descriptor> referrers(const Descriptor& subject, std::optional<std::string_view> artifact_type) override;

  // GET /v2/: checks that the registry speaks the API and that we can authenticate.
  void ping();
  // Cross-repository blob mount from another repository of the same registry. Returns
  // false when the registry declined (the caller then uploads the blob); a refusal (the
  // token service grants no pull on `from_repository`) is an error.
  bool mount(const Descriptor& blob, std::string_view from_repository);
  // Records that this repository holds `blob` (a manifest read from it references it), so
  // that pushing the blob to another repository of the same registry mounts it from here.
  void note_holds(const Descriptor& blob);
  void delete_manifest(const Descriptor& manifest);

  const RegistryReference& reference() const;

 private:
  void push_manifest(const Descriptor& descriptor, Reader& content);
  Stored push_blob(const Descriptor& descriptor, Reader& content, const ProgressFn& progress);
  // Tries the mount sources this process knows for `blob`: mounted, or an upload session a
  // declined mount opened (to be used or closed), or neither.
  struct MountAttempt {
    bool mounted = false;
    std::optional<std::string> session;
  };
  MountAttempt mount_from_sightings(const Descriptor& blob);
  void upload_blob(const Descriptor& descriptor, Reader& content, const ProgressFn& progress,
                   std::optional<std::string> session);
  void update_referrers_tag(const Descriptor& manifest, const Descriptor& subject);

  std::unique_ptr<RegistryClient> client_;
  // Repositories whose mount the registry refused us (no pull there): not asked again.
  std::mutex refused_mutex_;
  std::set<std::string> refused_sources_;
};

std::unique_ptr<Target> open_registry(const RegistryReference& reference, const RegistryOptions& options);

// Checks the credentials against host's /v2/ (through its token service when it has one),
// then stores them in the auth file (default_auth_file) atomically with mode 0600,
// keeping every other entry. Returns the file written.
std::filesystem::path login(std::string_view host, const Credentials& credentials, const RegistryOptions& options);
// Removes host's entry; returns false when there was none.
bool logout(std::string_view host, const std::optional<std::filesystem::path>& auth_file);

}  // namespace ckms::oci
