#include "registry_sightings.hpp"

#include <algorithm>

namespace ckms::oci {

BlobSightings& BlobSightings::instance() {
  static BlobSightings sightings;
  return sightings;
}

void BlobSightings::record(std::string_view registry, const Digest& blob, std::string_view repository) {
  const std::lock_guard lock(mutex_);
  auto& repositories = holders_[Key{std::string(registry), blob.str()}];
  std::erase(repositories, repository);
  repositories.insert(repositories.begin(), std::string(repository));
}

void BlobSightings::forget(std::string_view registry, const Digest& blob, std::string_view repository) {
  const std::lock_guard lock(mutex_);
  const auto it = holders_.find(Key{std::string(registry), blob.str()});
  if (it != holders_.end()) std::erase(it->second, repository);
}

std::vector<std::string> BlobSightings::holders(std::string_view registry, const Digest& blob) const {
  const std::lock_guard lock(mutex_);
  const auto it = holders_.find(Key{std::string(registry), blob.str()});
  return it == holders_.end() ? std::vector<std::string>{} : it->second;
}

}  // namespace ckms::oci
