#pragma once
// Copies a manifest or index with everything it references from one Target to another,
// children before parents so the destination never holds a manifest whose blobs are
// missing. Original bytes move unchanged, so every digest is preserved; blobs the
// destination already has are skipped without reading them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ckms/oci/target.hpp"

namespace ckms::oci {

// Told about every blob a copy visits, for progress bars and machine-readable logs.
class CopyObserver {
 public:
  enum class Outcome { copied, skipped, mounted };
  virtual ~CopyObserver() = default;
  virtual void started(const Descriptor& /*blob*/) {}
  virtual void advanced(const Descriptor& /*blob*/, std::uint64_t /*bytes_so_far*/) {}
  virtual void finished(const Descriptor& /*blob*/, Outcome /*outcome*/) {}
};

struct CopyOptions {
  CopyObserver* observer = nullptr;
  // Also copy the manifests whose subject is the copied root (signatures, SBOMs).
  bool include_referrers = false;
};

struct CopyResult {
  Descriptor root;
  std::uint64_t blobs_copied = 0;
  std::uint64_t blobs_skipped = 0;
  std::uint64_t bytes_copied = 0;
};

// Resolves `source_reference` (tag or digest; empty for a layout's only manifest) in
// `source`, copies the graph, and tags the root in `destination` when `destination_tag`
// is given.
CopyResult copy(Target& source, std::string_view source_reference, Target& destination,
                std::optional<std::string_view> destination_tag, const CopyOptions& options = {});

// Copies one descriptor and its graph (no resolve, no tag).
void copy_graph(Target& source, Target& destination, const Descriptor& root,
                const CopyOptions& options, CopyResult& result);

}  // namespace ckms::oci
