// Referrers (distribution-spec v1.1 "Listing Referrers"): the referrers API when the
// registry has it, else the referrers tag schema, an index tagged `<alg>-<hex>` that
// pushers keep up to date (update_referrers_tag).

#include <set>

#include "ckms/oci/http_headers.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/registry.hpp"
#include "registry_client.hpp"

namespace ckms::oci {
namespace {

std::string referrers_tag(const Digest& subject) {
  return fmt::format("{}-{}", to_string(subject.algorithm()), subject.hex());
}

std::vector<Descriptor> only_type(std::vector<Descriptor> all, std::optional<std::string_view> type) {
  if (!type) return all;
  std::erase_if(all, [&](const Descriptor& d) { return d.artifact_type != *type; });
  return all;
}

}  // namespace

std::vector<Descriptor> RegistryRepository::referrers(const Descriptor& subject,
                                                      std::optional<std::string_view> artifact_type) {
  const std::string what = fmt::format("listing referrers of {}", subject.digest.str());
  std::string url = client_->url("referrers/" + subject.digest.str());
  if (artifact_type) url += "?artifactType=" + url_escape(*artifact_type);
  std::vector<Descriptor> out;
  std::set<std::string> seen_pages;
  bool filtered = true;
  while (seen_pages.insert(url).second) {
    if (static_cast<int>(seen_pages.size()) > client_->options().max_list_pages) {
      fail(ErrorKind::registry, "{}: {} goes on past {} pages; refused as endless", describe(), what,
           client_->options().max_list_pages);
    }
    HttpRequest request;
    request.url = url;
    request.headers.push_back(fmt::format("Accept: {}", media_type::kOciIndex));
    const HttpResponse response = client_->send(request, client_->pull_scope(), kMaxManifestBytes);
    if (response.status == 404 && seen_pages.size() == 1) {
      // No referrers API: the tag schema's index, if anyone pushed one.
      std::optional<Descriptor> index_descriptor;
      try {
        index_descriptor = resolve(referrers_tag(subject.digest));
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::not_found) return {};
        throw;
      }
      const ImageIndex index = ImageIndex::parse(fetch_bytes(*this, *index_descriptor), what);
      return only_type(index.manifests, artifact_type);
    }
    if (response.status != 200) client_->fail_reply(response, what);
    const ImageIndex page = ImageIndex::parse(response.body, what);
    out.insert(out.end(), page.manifests.begin(), page.manifests.end());
    // A registry may ignore artifactType; it says when it applied it.
    const auto applied = response.headers.get("oci-filters-applied").value_or("");
    filtered = filtered && applied.find("artifactType") != std::string::npos;
    const auto link = response.headers.get("link");
    const auto next = link ? parse_link_next(*link) : std::nullopt;
    if (!next) break;
    url = resolve_url(response.url, *next);
  }
  return filtered ? out : only_type(std::move(out), artifact_type);
}

void RegistryRepository::update_referrers_tag(const Descriptor& manifest, const Descriptor& subject) {
  const std::string tag = referrers_tag(subject.digest);
  const std::string what = fmt::format("referrers index {} in {}", tag, describe());
  ImageIndex index;
  try {
    index = ImageIndex::parse(fetch_bytes(*this, resolve(tag)), what);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
  }
  for (const auto& entry : index.manifests) {
    if (entry.digest == manifest.digest) return;
  }
  Descriptor entry = manifest;
  entry.platform.reset();
  entry.urls.clear();
  index.manifests.push_back(std::move(entry));
  const std::string bytes = index.serialize();
  HttpRequest request;
  request.method = "PUT";
  request.url = client_->url("manifests/" + tag);
  request.headers.push_back(fmt::format("Content-Type: {}", media_type::kOciIndex));
  request.body = bytes;
  request.has_body = true;
  // Two pushers may race here (a registry has no compare-and-swap): the later write wins, and
  // an entry lost that way comes back when its manifest is pushed again.
  const HttpResponse response = client_->send(request, client_->push_scope());
  if (response.status != 201 && response.status != 200) client_->fail_reply(response, "updating " + what);
}

}  // namespace ckms::oci
