#pragma once
// Copies a manifest or index with everything it references from one Target to another,
// children before parents so the destination never holds a manifest whose blobs are
// missing. Original bytes move unchanged, so every digest is preserved; blobs the
// destination already has are skipped without reading them, and a blob whose source is
// another repository of the destination's registry is mounted from there, so no byte moves. The blobs of a manifest
// move concurrently, each streamed straight from the source's download into the destination's upload, when both targets
// allow it (registry repositories and OCI layouts do).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ckms/oci/target.hpp"

namespace ckms::oci {

// Told about every blob a copy visits, for progress bars and machine-readable logs. Calls
// never overlap, but they may come from the copy's worker threads, and the blobs being copied
// at the same time interleave.
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
  // Blobs transferred at once, each on its own thread with its own connections. A few
  // streams keep both registries busy (one upload rarely does on its own); 1 copies one by
  // one. Memory grows by one stream's buffers per blob in flight.
  int concurrency = 4;
  // Tries per blob when an upload is cut off after it has sent content (InterruptedUpload):
  // each starts over from a fresh fetch, since streamed bytes cannot be sent again.
  int blob_attempts = 3;
};

// Blobs counts manifests and indexes too: they are uploaded or found present, never mounted.
struct CopyResult {
  Descriptor root;
  std::uint64_t blobs_mounted = 0;   // linked from the source repository, no bytes sent
  std::uint64_t blobs_present = 0;   // the destination had them
  std::uint64_t blobs_uploaded = 0;  // sent
  std::uint64_t bytes_uploaded = 0;
};

// Resolves `source_reference` (tag or digest; empty for a layout's only manifest) in
// `source`, copies the graph, and tags the root in `destination` when `destination_tag`
// is given.
CopyResult copy(Target& source, std::string_view source_reference, Target& destination,
                std::optional<std::string_view> destination_tag, const CopyOptions& options = {});

// Copies one descriptor and its graph (no resolve, no tag).
void copy_graph(Target& source, Target& destination, const Descriptor& root, const CopyOptions& options,
                CopyResult& result);

}  // namespace ckms::oci
