#include "ckms/builder/archive_status.hpp"

#include <map>
#include <set>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/images/resolve.hpp"

namespace ckms::builder {

namespace {

// The tags of each repository asked about, listed once: a registry answers a listing in
// one request where resolving every tag would take one per kernel.
class TagListings {
 public:
  explicit TagListings(const TargetOpener& open_target) : open_target_(open_target) {}

  bool holds(const oci::Reference& reference) { return listing(reference).contains(oci::selector_of(reference)); }

 private:
  const std::set<std::string>& listing(const oci::Reference& reference) {
    const std::string key = reference.with_tag("x").str();
    if (const auto found = tags_.find(key); found != tags_.end()) return found->second;
    return tags_.emplace(key, list_tags(reference)).first->second;
  }

  std::set<std::string> list_tags(const oci::Reference& reference) {
    try {
      const auto target = open_target_(reference);
      const auto tags = target->tags();
      return {tags.begin(), tags.end()};
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;
      return {};
    }
  }

  const TargetOpener& open_target_;
  std::map<std::string, std::set<std::string>> tags_;
};

}  // namespace

nlohmann::json KernelArchiveStatus::to_json() const {
  nlohmann::json json{{"release", kernel.release}, {"flavour", kernel.flavour}, {"headers", kernel.headers}};
  if (published) {
    json["tag"] = artifact_tag;
    json["published"] = *published;
  }
  if (image_found) {
    json["image"] = build_image;
    json["imageFound"] = *image_found;
  }
  return json;
}

std::vector<KernelArchiveStatus> archive_status(const ArchiveStatusQuery& query) {
  TagListings listings(query.open_target);
  std::vector<KernelArchiveStatus> statuses;
  for (const auto& kernel : query.kernels) {
    KernelArchiveStatus status{.kernel = kernel};
    if (query.repository) {
      status.artifact_tag = artifact::kernel_tag(query.version, kernel.release);
      status.published = listings.holds(query.repository->with_tag(status.artifact_tag));
    }
    if (query.image_template) {
      status.build_image = images::image_reference(*query.image_template, kernel.release);
      status.image_found = listings.holds(oci::Reference::parse(status.build_image));
    }
    statuses.push_back(std::move(status));
  }
  return statuses;
}

}  // namespace ckms::builder
