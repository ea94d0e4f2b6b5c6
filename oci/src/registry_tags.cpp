// Tag listing (distribution-spec "Listing Tags"): pages of `n` tags linked by
// `Link: <...>; rel="next"` until a page has no next link.

#include <nlohmann/json.hpp>
#include <set>

#include "ckms/oci/http_headers.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/registry.hpp"
#include "registry_client.hpp"

namespace ckms::oci {

std::vector<std::string> RegistryRepository::tags() {
  std::vector<std::string> out;
  std::set<std::string> seen_pages;
  std::string url = client_->url(fmt::format("tags/list?n={}", client_->options().tags_page_size));
  for (int pages = 1;; ++pages) {
    // A registry can link fresh page after fresh page for ever; a real listing of that many
    // pages (a million tags at the default page size) is not one ckms reads.
    if (pages > client_->options().max_list_pages) {
      fail(ErrorKind::registry, "{}: the tag listing goes on past {} pages; refused as endless", describe(),
           client_->options().max_list_pages);
    }
    if (!seen_pages.insert(url).second) {
      fail(ErrorKind::registry, "{}: tag listing links back to {}", describe(), url);
    }
    HttpRequest request;
    request.url = url;
    const HttpResponse response = client_->send(request, client_->pull_scope(), kMaxManifestBytes);
    // A repository nothing was pushed to yet has no tags rather than being an error.
    if (response.status == 404 && out.empty()) return out;
    if (response.status != 200) client_->fail_reply(response, "listing tags");
    try {
      const auto page = nlohmann::json::parse(response.body);
      const auto& tags = page.at("tags");
      if (!tags.is_null()) {
        for (const auto& tag : tags) out.push_back(tag.get<std::string>());
      }
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::registry, "{}: unreadable tag list from {}: {}", describe(), url, e.what());
    }
    const auto link = response.headers.get("link");
    const auto next = link ? parse_link_next(*link) : std::nullopt;
    if (!next) return out;
    url = resolve_url(response.url, *next);
    if (url_authority(url) != url_authority(client_->base_url())) {
      fail(ErrorKind::refused, "{}: tag listing links to another host ({})", describe(), url);
    }
  }
}

}  // namespace ckms::oci
