#pragma once
// Where this process has seen blobs, per registry: the repositories a cross-repository mount
// can link a blob from instead of sending its bytes again (private to oci/). Process-wide, so
// that repositories opened apart from each other find each other's blobs: a copy's source and
// destination, the kernels of one image build, the outputs of one build. An entry that has
// gone stale costs one declined mount, after which the push uploads as it would have anyway.

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckms/base/digest.hpp"

namespace ckms::oci {

class BlobSightings {
 public:
  static BlobSightings& instance();

  // `registry` is the registry's API base URL (scheme and host), so that only a repository
  // reached the same way is ever named as a mount source.
  void record(std::string_view registry, const Digest& blob, std::string_view repository);
  void forget(std::string_view registry, const Digest& blob, std::string_view repository);
  // The repositories known to hold `blob`, most recently seen first.
  std::vector<std::string> holders(std::string_view registry, const Digest& blob) const;

 private:
  using Key = std::pair<std::string, std::string>;  // registry, digest
  mutable std::mutex mutex_;
  std::map<Key, std::vector<std::string>> holders_;
};

}  // namespace ckms::oci
