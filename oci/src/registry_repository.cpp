#include "ckms/oci/registry.hpp"

#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "registry_blob_reader.hpp"
#include "registry_client.hpp"

namespace ckms::oci {

std::string manifest_accept_header() {
  return fmt::format("Accept: {}, {}, {}, {}", media_type::kOciManifest, media_type::kOciIndex,
                     media_type::kDockerManifest, media_type::kDockerManifestList);
}

namespace {

std::string bare_media_type(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return std::string(type);
}

std::string_view blob_or_manifest(const Descriptor& descriptor) {
  return media_type::is_manifest_or_index(descriptor.media_type) ? "manifests" : "blobs";
}

}  // namespace

RegistryRepository::RegistryRepository(RegistryReference reference, RegistryOptions options)
    : client_(std::make_unique<RegistryClient>(std::move(reference), std::move(options))) {}

RegistryRepository::~RegistryRepository() = default;

const RegistryReference& RegistryRepository::reference() const { return client_->reference(); }

std::string RegistryRepository::describe() const { return client_->describe(); }

void RegistryRepository::ping() {
  HttpRequest request;
  request.url = client_->base_url();
  const HttpResponse response = client_->send(request, Scopes{});
  if (response.status != 200) client_->fail_reply(response, "GET /v2/");
}

Descriptor RegistryRepository::resolve(std::string_view tag_or_digest) {
  const auto digest = Digest::try_parse(tag_or_digest);
  if (!digest && !is_valid_tag(tag_or_digest)) {
    fail(ErrorKind::usage, "{}: '{}' is neither a tag nor a digest", describe(), tag_or_digest);
  }
  const std::string what = fmt::format("resolving {}", tag_or_digest);
  HttpRequest request;
  request.method = "HEAD";
  request.url = client_->url("manifests/" + std::string(tag_or_digest));
  request.headers.push_back(manifest_accept_header());
  HttpResponse head = client_->send(request, client_->pull_scope());
  if (head.status == 404) {
    fail(ErrorKind::not_found, "{}: no manifest named '{}'", describe(), tag_or_digest);
  }

  std::optional<Descriptor> found;
  const auto header_digest = head.headers.get("docker-content-digest");
  const auto content_type = head.headers.get("content-type");
  const auto content_length = head.headers.get("content-length");
  if (head.status == 200 && header_digest && content_type && content_length && Digest::try_parse(*header_digest) &&
      media_type::is_manifest_or_index(bare_media_type(*content_type))) {
    found = Descriptor{
        bare_media_type(*content_type), Digest::parse(*header_digest), std::stoll(*content_length), {}, {}, {}, {}};
  } else {
    // Without a digest header (or a HEAD the registry does not serve) the only way to the
    // digest is the bytes themselves.
    request.method = "GET";
    const HttpResponse get = client_->send(request, client_->pull_scope(), kMaxManifestBytes);
    if (get.status == 404) fail(ErrorKind::not_found, "{}: no manifest named '{}'", describe(), tag_or_digest);
    if (get.status != 200) client_->fail_reply(get, what);
    std::string type = bare_media_type(get.headers.get("content-type").value_or(""));
    if (!media_type::is_manifest_or_index(type)) type = detect_manifest_media_type(get.body, what);
    found = Descriptor::for_content(type, get.body);
  }
  if (digest && found->digest != *digest) {
    fail(ErrorKind::integrity, "{}: asked for {}, the registry answered with {}", describe(), digest->str(),
         found->digest.str());
  }
  return *found;
}

bool RegistryRepository::exists(const Descriptor& descriptor) {
  HttpRequest request;
  request.method = "HEAD";
  request.url = client_->url(fmt::format("{}/{}", blob_or_manifest(descriptor), descriptor.digest.str()));
  if (media_type::is_manifest_or_index(descriptor.media_type)) request.headers.push_back(manifest_accept_header());
  const HttpResponse response = client_->send(request, client_->pull_scope());
  if (response.status == 404) return false;
  if (response.status == 200) {
    if (!media_type::is_manifest_or_index(descriptor.media_type)) note_holds(descriptor);
    return true;
  }
  client_->fail_reply(response, fmt::format("checking {}", descriptor.describe()));
}

std::unique_ptr<Reader> RegistryRepository::fetch(const Descriptor& descriptor) {
  HttpRequest request;
  request.url = client_->url(fmt::format("{}/{}", blob_or_manifest(descriptor), descriptor.digest.str()));
  if (media_type::is_manifest_or_index(descriptor.media_type)) request.headers.push_back(manifest_accept_header());
  std::string what = fmt::format("{} in {}", descriptor.digest.str(), describe());
  auto body = std::make_unique<ResumingBlobReader>(*client_, std::move(request), what);
  // The registry answered the GET: it holds the blob, which makes it a mount source.
  if (!media_type::is_manifest_or_index(descriptor.media_type)) note_holds(descriptor);
  return verified(std::move(body), descriptor, std::move(what));
}

void RegistryRepository::tag(const Descriptor& manifest, std::string_view tag) {
  if (!is_valid_tag(tag)) fail(ErrorKind::usage, "{}: '{}' is not a valid tag", describe(), tag);
  const std::string bytes = fetch_bytes(*this, manifest);
  HttpRequest request;
  request.method = "PUT";
  request.url = client_->url("manifests/" + std::string(tag));
  request.headers.push_back("Content-Type: " + manifest.media_type);
  request.body = bytes;
  request.has_body = true;
  const HttpResponse response = client_->send(request, client_->push_scope());
  if (response.status != 201 && response.status != 200) {
    client_->fail_reply(response, fmt::format("tagging {} as {}", manifest.digest.str(), tag));
  }
}

void RegistryRepository::delete_manifest(const Descriptor& manifest) {
  HttpRequest request;
  request.method = "DELETE";
  request.url = client_->url("manifests/" + manifest.digest.str());
  const HttpResponse response = client_->send(request, client_->delete_scope());
  if (response.status != 202 && response.status != 200) {
    client_->fail_reply(response, fmt::format("deleting {}", manifest.digest.str()));
  }
}

std::unique_ptr<Target> open_registry(const RegistryReference& reference, const RegistryOptions& options) {
  return std::make_unique<RegistryRepository>(reference, options);
}

}  // namespace ckms::oci
