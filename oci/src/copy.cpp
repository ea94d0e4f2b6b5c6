#include "ckms/oci/copy.hpp"

#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "ckms/base/error.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/registry.hpp"

namespace ckms::oci {
namespace {

// An index may nest indexes; a registry reply that nests deeper than this is hostile.
constexpr int kMaxDepth = 8;
// A blob whose upload was cut off starts over after this (times the attempt), so that a
// registry that dropped us under load is not asked again at once.
constexpr std::chrono::milliseconds kRestartDelay{250};

// Targets whose blob operations (exists, fetch, push of distinct blobs) are safe from several
// threads at once. Any other Target is used from one thread only.
bool allows_concurrent_blobs(Target& target) {
  return dynamic_cast<RegistryRepository*>(&target) != nullptr || dynamic_cast<Layout*>(&target) != nullptr;
}

// The source side of one blob transfer, fetched on the first read. A destination that holds
// the blob already, or mounts it, returns from push() without reading (its own mount and HEAD
// decide), so nothing is fetched and the copy needs no HEAD of its own. It also ends the transfer early once another
// blob of the same copy has failed: the copy fails anyway, and the registry should not
// receive bytes nobody will commit.
class DeferredFetch final : public Reader {
 public:
  DeferredFetch(Target& source, const Descriptor& blob, const std::atomic<bool>& stop)
      : source_(source), blob_(blob), stop_(stop) {}
  std::size_t read(std::span<std::byte> buffer) override {
    if (stop_) fail(ErrorKind::internal, "copy stopped: another blob failed");
    if (!reader_) reader_ = source_.fetch(blob_);
    return reader_->read(buffer);
  }
  bool fetched() const { return reader_ != nullptr; }

 private:
  Target& source_;
  const Descriptor& blob_;
  const std::atomic<bool>& stop_;
  std::unique_ptr<Reader> reader_;
};

class GraphCopier {
 public:
  GraphCopier(Target& source, Target& destination, const CopyOptions& options, CopyResult& result)
      : source_(source),
        destination_(destination),
        options_(options),
        result_(result),
        workers_(allows_concurrent_blobs(source) && allows_concurrent_blobs(destination)
                     ? std::max(options.concurrency, 1)
                     : 1) {}

  void copy_node(const Descriptor& node, int depth) {
    if (depth > kMaxDepth) {
      fail(ErrorKind::refused, "{}: manifests nest deeper than {} levels at {}", source_.describe(), kMaxDepth,
           node.digest.str());
    }
    if (!visited_.insert(node.digest).second) return;
    if (!media_type::is_manifest_or_index(node.media_type)) {
      copy_blobs({node});
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
    const std::vector<Descriptor> children = media_type::is_index(node.media_type)
                                                 ? ImageIndex::parse(bytes, where).manifests
                                                 : ImageManifest::parse(bytes, where).children();
    std::vector<Descriptor> blobs;
    for (const auto& child : children) {
      if (!media_type::is_manifest_or_index(child.media_type) && visited_.insert(child.digest).second) {
        blobs.push_back(child);
      }
    }
    copy_blobs(blobs);
    for (const auto& child : children) {
      if (media_type::is_manifest_or_index(child.media_type)) copy_node(child, depth + 1);
    }
    if (options_.include_referrers) {
      for (const auto& referrer : source_.referrers(node, std::nullopt)) copy_node(referrer, depth + 1);
    }
    if (destination_.exists(node)) {
      note_skipped(node);
      return;
    }
    push_bytes(destination_, node, bytes);
    ++result_.blobs_uploaded;
    result_.bytes_uploaded += bytes.size();
  }

 private:
  // Copies `blobs` on up to workers_ threads (this one included). The first failure stops
  // the others and is the one reported.
  void copy_blobs(const std::vector<Descriptor>& blobs) {
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    std::exception_ptr failure;
    const auto work = [&] {
      for (std::size_t i = next++; i < blobs.size() && !stop; i = next++) {
        try {
          copy_blob(blobs[i], stop);
        } catch (...) {
          const std::lock_guard lock(mutex_);
          if (!failure) failure = std::current_exception();
          stop = true;
        }
      }
    };
    {
      std::vector<std::jthread> helpers;
      const std::size_t threads = std::min<std::size_t>(blobs.size(), static_cast<std::size_t>(workers_));
      for (std::size_t i = 1; i < threads; ++i) helpers.emplace_back(work);
      work();
    }
    if (failure) std::rethrow_exception(failure);
  }

  void copy_blob(const Descriptor& blob, const std::atomic<bool>& stop) {
    notify([&](CopyObserver& observer) { observer.started(blob); });
    // The source's manifest names the blob, so the source holds it: a destination on the same
    // registry can mount it from there.
    if (auto* repository = dynamic_cast<RegistryRepository*>(&source_)) repository->note_holds(blob);
    for (int attempt = 1;; ++attempt) {
      DeferredFetch content(source_, blob, stop);
      ProgressFn progress;
      if (options_.observer) {
        progress = [&](std::uint64_t bytes) {
          if (content.fetched()) notify([&](CopyObserver& observer) { observer.advanced(blob, bytes); });
        };
      }
      try {
        const Stored stored = destination_.push(blob, content, progress);
        if (stored == Stored::present) {
          note_skipped(blob);
          return;
        }
        if (stored == Stored::mounted) {
          note_mounted(blob);
          return;
        }
        break;
      } catch (const InterruptedUpload&) {
        if (attempt >= options_.blob_attempts || stop) throw;
      }
      std::this_thread::sleep_for(kRestartDelay * attempt);
    }
    {
      const std::lock_guard lock(mutex_);
      ++result_.blobs_uploaded;
      result_.bytes_uploaded += static_cast<std::uint64_t>(blob.size);
    }
    notify([&](CopyObserver& observer) { observer.finished(blob, CopyObserver::Outcome::copied); });
  }

  void note_skipped(const Descriptor& node) {
    {
      const std::lock_guard lock(mutex_);
      ++result_.blobs_present;
    }
    notify([&](CopyObserver& observer) { observer.finished(node, CopyObserver::Outcome::skipped); });
  }

  void note_mounted(const Descriptor& blob) {
    {
      const std::lock_guard lock(mutex_);
      ++result_.blobs_mounted;
    }
    notify([&](CopyObserver& observer) { observer.finished(blob, CopyObserver::Outcome::mounted); });
  }

  template <typename Call>
  void notify(const Call& call) {
    if (!options_.observer) return;
    const std::lock_guard lock(observer_mutex_);
    call(*options_.observer);
  }

  Target& source_;
  Target& destination_;
  const CopyOptions& options_;
  CopyResult& result_;
  const int workers_;
  std::set<Digest> visited_;  // touched by the traversing thread only
  std::mutex mutex_;          // result_ and the first failure
  std::mutex observer_mutex_;
};

}  // namespace

void copy_graph(Target& source, Target& destination, const Descriptor& root, const CopyOptions& options,
                CopyResult& result) {
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
