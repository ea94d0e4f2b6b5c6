#pragma once
// The OCI image layout (image-spec image-layout.md) as a content store: `oci-layout`,
// `index.json`, `blobs/<alg>/<hex>`. Blobs arrive by temp file + verify + rename, so a
// reader never sees a partial blob; index.json changes happen under an exclusive lock with
// read-modify-write-rename, so two processes can share one layout (the loader's cache).

#include <filesystem>
#include <optional>

#include "ckms/oci/target.hpp"

namespace ckms::oci {

class Layout final : public Target {
 public:
  enum class Mode { open_existing, create_if_missing };
  Layout(std::filesystem::path directory, Mode mode);

  std::string describe() const override;
  Descriptor resolve(std::string_view tag_or_digest) override;
  bool exists(const Descriptor& descriptor) override;
  std::unique_ptr<Reader> fetch(const Descriptor& descriptor) override;
  Stored push(const Descriptor& descriptor, Reader& content, const ProgressFn& progress = {}) override;
  void tag(const Descriptor& manifest, std::string_view tag) override;
  std::vector<std::string> tags() override;
  std::vector<Descriptor> referrers(const Descriptor& subject, std::optional<std::string_view> artifact_type) override;

  // Removes a tag from index.json (the blobs stay until gc()).
  void untag(std::string_view tag);
  // Deletes blobs no tagged manifest reaches. Returns the number of blobs removed.
  std::size_t gc();
  // Re-hashes every blob; returns one message per blob whose bytes do not match its name,
  // and per manifest that references a missing blob.
  std::vector<std::string> verify();

  const std::filesystem::path& directory() const { return directory_; }
  std::filesystem::path blob_path(const Digest& digest) const;
  // The manifests listed in index.json (with their ref.name annotations).
  std::vector<Descriptor> entries() const;

 private:
  std::filesystem::path directory_;
};

}  // namespace ckms::oci
