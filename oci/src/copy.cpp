#include "ckms/oci/copy.hpp"

#include <set>

#include "ckms/oci/error.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"

namespace ckms::oci {
namespace {

// An index may nest indexes; a registry reply that nests deeper than this is hostile.
constexpr int kMaxDepth = 8;

class GraphCopier {
 public:
  GraphCopier(Target& source, Target& destination, const CopyOptions& options, CopyResult& result)
      : source_(source), destination_(destination), options_(options), result_(result) {}

  void copy_node(const Descriptor& node, int depth) {
    if (depth > kMaxDepth) {
      fail(ErrorKind::refused, "{}: manifests nest deeper than {} levels at {}", source_.describe(),
           kMaxDepth, node.digest.str());
    }
    if (!visited_.insert(node.digest).second) return;
    if (!media_type::is_manifest_or_index(node.media_type)) {
      copy_blob(node);
      return;
    }
    // Stores only ever hold a manifest whose children they hold (we push children first),
    // so a manifest already present means its whole graph is.
    if (destination_.exists(node) && !options_.include_referrers) {
      note_skipped(node);
      return;
    }
    const std::string bytes = fetch_bytes(source_, node);
    const std::string where = fmt::format("{} in {}", node.digest.str(), source_.describe());
    if (media_type::is_index(node.media_type)) {
      for (const auto& child : ImageIndex::parse(bytes, where).manifests) copy_node(child, depth + 1);
    } else {
      for (const auto& child : ImageManifest::parse(bytes, where).children()) copy_node(child, depth + 1);
    }
    if (options_.include_referrers) {
      for (const auto& referrer : source_.referrers(node, std::nullopt)) copy_node(referrer, depth + 1);
    }
    if (destination_.exists(node)) {
      note_skipped(node);
      return;
    }
    push_bytes(destination_, node, bytes);
    ++result_.blobs_copied;
    result_.bytes_copied += bytes.size();
  }

 private:
  void copy_blob(const Descriptor& blob) {
    if (options_.observer) options_.observer->started(blob);
    if (destination_.exists(blob)) {
      note_skipped(blob);
      return;
    }
    auto reader = source_.fetch(blob);
    ProgressFn progress;
    if (options_.observer) {
      progress = [&](std::uint64_t bytes) { options_.observer->advanced(blob, bytes); };
    }
    destination_.push(blob, *reader, progress);
    ++result_.blobs_copied;
    result_.bytes_copied += static_cast<std::uint64_t>(blob.size);
    if (options_.observer) options_.observer->finished(blob, CopyObserver::Outcome::copied);
  }

  void note_skipped(const Descriptor& node) {
    ++result_.blobs_skipped;
    if (options_.observer) options_.observer->finished(node, CopyObserver::Outcome::skipped);
  }

  Target& source_;
  Target& destination_;
  const CopyOptions& options_;
  CopyResult& result_;
  std::set<Digest> visited_;
};

}  // namespace

void copy_graph(Target& source, Target& destination, const Descriptor& root,
                const CopyOptions& options, CopyResult& result) {
  GraphCopier(source, destination, options, result).copy_node(root, 0);
}

CopyResult copy(Target& source, std::string_view source_reference, Target& destination,
                std::optional<std::string_view> destination_tag, const CopyOptions& options) {
  CopyResult result{.root = source.resolve(source_reference)};
  copy_graph(source, destination, result.root, options, result);
  if (destination_tag) destination.tag(result.root, *destination_tag);
  return result;
}

}  // namespace ckms::oci
