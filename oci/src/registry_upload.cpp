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

void RegistryRepository::push(const Descriptor& descriptor, Reader& content, const ProgressFn& progress) {
  if (media_type::is_manifest_or_index(descriptor.media_type)) {
    push_manifest(descriptor, content);
    if (progress) progress(static_cast<std::uint64_t>(descriptor.size));
  } else {
    push_blob(descriptor, content, progress);
  }
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

void RegistryRepository::push_blob(const Descriptor& descriptor, Reader& content, const ProgressFn& progress) {
  if (exists(descriptor)) {
    if (progress) progress(static_cast<std::uint64_t>(descriptor.size));
    return;
  }
  const std::string what = fmt::format("pushing {}", descriptor.describe());
  VerifyingReader verifier(content, descriptor.digest, descriptor.size, what);
  const RegistryOptions& options = client_->options();

  HttpRequest start;
  start.method = "POST";
  start.url = client_->url("blobs/uploads/");
  const HttpResponse started = client_->send(start, client_->push_scope());
  if (started.status != 202) client_->fail_reply(started, what + ": starting the upload");
  std::string location = upload_location(started, *client_, what);

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

bool RegistryRepository::mount(const Descriptor& blob, std::string_view from_repository) {
  if (!is_valid_repository(from_repository)) {
    fail(ErrorKind::usage, "{}: '{}' is not a repository name", describe(), from_repository);
  }
  const std::string what = fmt::format("mounting {} from {}", blob.digest.str(), from_repository);
  HttpRequest request;
  request.method = "POST";
  request.url = client_->url(
      fmt::format("blobs/uploads/?mount={}&from={}", url_escape(blob.digest.str()), url_escape(from_repository)));
  const Scopes scopes{repository_scope(reference().repository, true), repository_scope(from_repository, false)};
  const HttpResponse response = client_->send(request, scopes);
  if (response.status == 201) return true;
  if (response.status == 202) {
    // The registry opened an ordinary upload instead; the caller uploads through push().
    if (auto location = response.headers.get("location")) cancel_upload(*client_, resolve_url(response.url, *location));
    return false;
  }
  client_->fail_reply(response, what);
}

}  // namespace ckms::oci
