#pragma once
// A Target is anywhere content-addressed OCI content lives: an OCI image layout directory
// or a registry repository (like oras-go's content.Storage + TagResolver). Copy, push, pull
// and the builder/loader are written once against this interface.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckms/base/io.hpp"
#include "ckms/oci/descriptor.hpp"

namespace ckms::oci {

// How a push left the content in the target: sent, found there already, or linked from
// another repository of the same registry (a cross-repository mount) without sending it.
enum class Stored { uploaded, present, mounted };

class Target {
 public:
  virtual ~Target() = default;

  // Names the target in messages: "oci:/var/lib/ckms" or "127.0.0.1:5000/ckms/hello".
  virtual std::string describe() const = 0;

  // The descriptor of the manifest or index that a tag or digest names.
  // Throws not_found naming the target and the reference when there is none.
  virtual Descriptor resolve(std::string_view tag_or_digest) = 0;

  virtual bool exists(const Descriptor& descriptor) = 0;

  // Streams the content; the reader checks size and digest as bytes flow and throws an
  // integrity error at the end when they differ, so callers must read to the end before
  // trusting or committing anything.
  virtual std::unique_ptr<Reader> fetch(const Descriptor& descriptor) = 0;

  // Stores content under its descriptor (a blob, or a manifest/index by media type). The
  // target verifies digest and size before the content becomes visible. Content that is
  // present, or mounted, is not read.
  virtual Stored push(const Descriptor& descriptor, Reader& content, const ProgressFn& progress = {}) = 0;

  // Points `tag` at a manifest or index that is already stored.
  virtual void tag(const Descriptor& manifest, std::string_view tag) = 0;

  virtual std::vector<std::string> tags() = 0;

  // Manifests whose `subject` is the given manifest, optionally only of one artifact type.
  virtual std::vector<Descriptor> referrers(const Descriptor& subject,
                                            std::optional<std::string_view> artifact_type) = 0;
};

// Reads a whole manifest, index or config (bounded by kMaxManifestBytes) and verifies it.
std::string fetch_bytes(Target& target, const Descriptor& descriptor);

// Stores small content (manifests, configs) given as bytes.
void push_bytes(Target& target, const Descriptor& descriptor, std::string_view bytes);

// Stores a file's content. A registry upload cut off after it sent content cannot be
// resumed (InterruptedUpload); the file can be read again, so the upload starts over in a
// new session, `attempts` times in all.
Stored push_file(Target& target, const Descriptor& descriptor, const std::filesystem::path& file,
                 const ProgressFn& progress = {}, int attempts = 3);

// Wraps `inner` so that it verifies `descriptor` as it streams (see VerifyingReader).
std::unique_ptr<Reader> verified(std::unique_ptr<Reader> inner, const Descriptor& descriptor, std::string what);

}  // namespace ckms::oci
