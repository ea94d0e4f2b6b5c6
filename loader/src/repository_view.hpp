#pragma once
// One repository's names within the shared cache layout, presented as a Target of its own,
// so that artifact::resolve_module reads the cache exactly as it reads a registry.

#include <string>

#include "ckms/oci/layout.hpp"

namespace ckms::loader::detail {

class RepositoryView final : public oci::Target {
 public:
  // `prefix` is "<repository>:"; tags are recorded as prefix + tag.
  RepositoryView(oci::Layout& layout, std::string repository);

  std::string describe() const override;
  oci::Descriptor resolve(std::string_view tag_or_digest) override;
  bool exists(const oci::Descriptor& descriptor) override;
  std::unique_ptr<ckms::Reader> fetch(const oci::Descriptor& descriptor) override;
  oci::Stored push(const oci::Descriptor& descriptor, ckms::Reader& content,
                   const ckms::ProgressFn& progress = {}) override;
  void tag(const oci::Descriptor& manifest, std::string_view tag) override;
  std::vector<std::string> tags() override;
  std::vector<oci::Descriptor> referrers(const oci::Descriptor& subject,
                                         std::optional<std::string_view> artifact_type) override;

 private:
  oci::Layout& layout_;
  std::string repository_;
  std::string prefix_;
};

}  // namespace ckms::loader::detail
