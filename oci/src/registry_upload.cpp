// Pushes (distribution-spec "Pushing blobs" and "Pushing manifests"). Blobs below
// buffered_upload_limit go up as POST + one PUT from memory. Larger ones as POST + one PATCH
// whose body streams from the Reader as the connection takes it (the way docker and skopeo
// push), + a closing PUT: no chunk is filled before it is sent, so the upload runs while the
// Reader's source (a download, in copy()) is still arriving, and memory stays at libcurl's
// buffers. Content is verified against its descriptor while it streams, and the end of the
// content (where the digest is checked) is read before the closing PUT, so a wrong digest
// fails before the registry can commit anything (and the registry checks the digest too).

#include <array>

#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/registry.hpp"
#include "ckms/oci/verifying_reader.hpp"
#include "registry_client.hpp"
#include "registry_sightings.hpp"

namespace ckms::oci {
namespace {

std::string with_query(const std::string& url, std::string_view query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + std::string(query);
}

// The upload URL the registry gave (Location may be relative).
std::string upload_location(const HttpResponse& response, RegistryClient& client, std::string_view what) {
  const auto location = response.headers.get("location");
  if (!location) {
    fail(ErrorKind::registry, "{}: {}: HTTP {} without a Location header", client.describe(), what, response.status);
  }
  return resolve_url(response.url, *location);
}

// POST ?mount=&from= (distribution-spec "Mounting a blob from another repository"), with one
// token for both scopes, as the spec's token service requires: push on this repository and
// pull on the source. No token for either repository alone is ever sent with it.
HttpResponse ask_mount(RegistryClient& client, const Descriptor& blob, std::string_view from_repository) {
  HttpRequest request;
  request.method = "POST";
  request.url = client.url(
      fmt::format("blobs/uploads/?mount={}&from={}", url_escape(blob.digest.str()), url_escape(from_repository)));
  const Scopes scopes{repository_scope(client.reference().repository, true), repository_scope(from_repository, false)};
  return client.send(request, scopes);
}

// Cancels an upload session we abandon, so the registry can drop its partial data; a failure
// here changes nothing for the caller, whose error is the one that matters.
void cancel_upload(RegistryClient& client, const std::string& location) noexcept {
  try {
    HttpRequest request;
    request.method = "DELETE";
    request.url = location;
    client.send(request, client.push_scope());
  } catch (...) {
  }
}

// Reports the bytes taken so far, as the upload takes them.
class ProgressReader final : public Reader {
 public:
  ProgressReader(Reader& inner, const ProgressFn& progress) : inner_(inner), progress_(progress) {}
  std::size_t read(std::span<std::byte> buffer) override {
    const std::size_t n = inner_.read(buffer);
    total_ += n;
    if (n > 0 && progress_) progress_(total_);
    return n;
  }

 private:
  Reader& inner_;
  const ProgressFn& progress_;
  std::uint64_t total_ = 0;
};

}  // namespace

Stored RegistryRepository::push(const Descriptor& descriptor, Reader& content, const ProgressFn& progress) {
  if (!media_type::is_manifest_or_index(descriptor.media_type)) return push_blob(descriptor, content, progress);
  push_manifest(descriptor, content);
  if (progress) progress(static_cast<std::uint64_t>(descriptor.size));
  return Stored::uploaded;
}

void RegistryRepository::push_manifest(const Descriptor& descriptor, Reader& content) {
  const std::string what = fmt::format("pushing {}", descriptor.describe());
  VerifyingReader verifier(content, descriptor.digest, descriptor.size, what);
  HttpRequest request;
  request.method = "PUT";
  request.url = client_->url("manifests/" + descriptor.digest.str());
  request.headers.push_back("Content-Type: " + descriptor.media_type);
  request.body = read_all(verifier, kMaxManifestBytes, what);
  request.has_body = true;
  const HttpResponse response = client_->send(request, client_->push_scope());
  if (response.status != 201 && response.status != 200) client_->fail_reply(response, what);

  // Registries without the referrers API do not say OCI-Subject; then the client keeps the
  // referrers tag schema's index up to date (distribution-spec "Pushing Manifests with Subject").
  std::optional<Descriptor> subject;
  Descriptor entry = descriptor;
  if (media_type::is_manifest(descriptor.media_type)) {
    const ImageManifest manifest = ImageManifest::parse(request.body, what);
    subject = manifest.subject;
    entry.artifact_type = manifest.artifact_type.value_or(manifest.config.media_type);
    entry.annotations = manifest.annotations;
  } else {
    const ImageIndex index = ImageIndex::parse(request.body, what);
    subject = index.subject;
    entry.artifact_type = index.artifact_type;
    entry.annotations = index.annotations;
  }
  if (subject && !response.headers.get("oci-subject")) update_referrers_tag(entry, *subject);
}

Stored RegistryRepository::push_blob(const Descriptor& descriptor, Reader& content, const ProgressFn& progress) {
  MountAttempt mount = mount_from_sightings(descriptor);
  Stored stored = Stored::mounted;
  if (!mount.mounted) {
    bool present = false;
    try {
      present = exists(descriptor);
    } catch (...) {
      if (mount.session) cancel_upload(*client_, *mount.session);
      throw;
    }
    if (present) {
      if (mount.session) cancel_upload(*client_, *mount.session);
      stored = Stored::present;
    } else {
      upload_blob(descriptor, content, progress, std::move(mount.session));
      stored = Stored::uploaded;
    }
  }
  if (stored != Stored::uploaded && progress) progress(static_cast<std::uint64_t>(descriptor.size));
  note_holds(descriptor);
  return stored;
}

void RegistryRepository::upload_blob(const Descriptor& descriptor, Reader& content, const ProgressFn& progress,
                                     std::optional<std::string> session) {
  const std::string what = fmt::format("pushing {}", descriptor.describe());
  VerifyingReader verifier(content, descriptor.digest, descriptor.size, what);
  const RegistryOptions& options = client_->options();

  HttpRequest start;
  start.method = "POST";
  start.url = client_->url("blobs/uploads/");
  if (!session) {
    const HttpResponse started = client_->send(start, client_->push_scope());
    if (started.status != 202) client_->fail_reply(started, what + ": starting the upload");
    session = upload_location(started, *client_, what);
  }
  std::string location = std::move(*session);

  try {
    HttpRequest finish;
    finish.method = "PUT";
    finish.headers.push_back("Content-Type: application/octet-stream");
    finish.has_body = true;
    const bool known_size = descriptor.size >= 0;
    if (known_size && static_cast<std::uint64_t>(descriptor.size) < options.buffered_upload_limit) {
      finish.body = read_all(verifier, options.buffered_upload_limit, what);
    } else {
      ProgressReader reporting(verifier, progress);
      HttpRequest patch;
      patch.method = "PATCH";
      patch.url = location;
      patch.headers.push_back("Content-Type: application/octet-stream");
      const HttpResponse patched = client_->send_streamed(
          patch, reporting,
          known_size ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(descriptor.size)) : std::nullopt,
          client_->push_scope(), what);
      if (patched.status != 202) client_->fail_reply(patched, what + ": sending the content");
      // With a known length libcurl stops reading at the last byte, before the verifier has
      // seen the end where it checks size and digest (and throws): read the end here, before
      // the closing PUT.
      std::array<std::byte, 1> end{};
      verifier.read(end);
      location = upload_location(patched, *client_, what);
    }
    finish.url = with_query(location, "digest=" + url_escape(descriptor.digest.str()));
    HttpResponse finished = client_->send(finish, client_->push_scope());
    if (finished.status == 404 && !finish.body.empty()) {
      // A PUT cut off mid-body ends the session in docker-registry, so its retry finds none
      // (BLOB_UPLOAD_INVALID). The body is in memory: send it once more in a new session.
      const HttpResponse restarted = client_->send(start, client_->push_scope());
      if (restarted.status != 202) client_->fail_reply(restarted, what + ": starting the upload again");
      location = upload_location(restarted, *client_, what);
      finish.url = with_query(location, "digest=" + url_escape(descriptor.digest.str()));
      finished = client_->send(finish, client_->push_scope());
    }
    if (finished.status != 201) client_->fail_reply(finished, what + ": completing the upload");
    if (progress) progress(static_cast<std::uint64_t>(descriptor.size));
  } catch (...) {
    cancel_upload(*client_, location);
    throw;
  }
}

RegistryRepository::MountAttempt RegistryRepository::mount_from_sightings(const Descriptor& blob) {
  const std::string registry = client_->base_url();
  for (const std::string& source : BlobSightings::instance().holders(registry, blob.digest)) {
    if (source == reference().repository) continue;
    {
      const std::lock_guard lock(refused_mutex_);
      if (refused_sources_.contains(source)) continue;
    }
    const HttpResponse response = ask_mount(*client_, blob, source);
    if (response.status == 201) return {.mounted = true};
    if (response.status == 202) {
      // The source no longer holds the blob (or the registry does not mount): the session it
      // opened is the one the upload goes into, if an upload is needed.
      BlobSightings::instance().forget(registry, blob.digest, source);
      return {.session = upload_location(response, *client_, "mounting " + blob.digest.str())};
    }
    // Refused (typically 401: no pull on the source for us): the blob goes up the plain way.
    const std::lock_guard lock(refused_mutex_);
    refused_sources_.insert(source);
  }
  return {};
}

bool RegistryRepository::mount(const Descriptor& blob, std::string_view from_repository) {
  if (!is_valid_repository(from_repository)) {
    fail(ErrorKind::usage, "{}: '{}' is not a repository name", describe(), from_repository);
  }
  const HttpResponse response = ask_mount(*client_, blob, from_repository);
  if (response.status == 201) {
    note_holds(blob);
    return true;
  }
  if (response.status == 202) {
    // The registry opened an ordinary upload instead; the caller uploads through push().
    cancel_upload(*client_, upload_location(response, *client_, "mounting " + blob.digest.str()));
    return false;
  }
  client_->fail_reply(response, fmt::format("mounting {} from {}", blob.digest.str(), from_repository));
}

void RegistryRepository::note_holds(const Descriptor& blob) {
  BlobSightings::instance().record(client_->base_url(), blob.digest, reference().repository);
}

}  // namespace ckms::oci
