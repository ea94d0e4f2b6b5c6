// The `<version>` index, always rebuilt from the per-kernel tags. A registry has no
// compare-and-swap, so a read-modify-write of the index would lose a kernel whenever two
// builders update it at once. Rebuilding from the tags instead, and rebuilding again when
// the tags moved while we wrote, makes the index converge: the writer whose index lands
// last checked afterwards that no tag had changed, so its index holds every kernel that
// was tagged before it finished (docs/artifacts.md, "Why the index is rebuilt").

#include <algorithm>
#include <map>

#include "ckms/oci/media_types.hpp"
#include "ckms/oci/reference.hpp"
#include "module_internal.hpp"

namespace ckms::artifact {
namespace {

// The index entry that a tag contributes, or nothing when the tag is not a module artifact
// of this version for the kernel its name says. Keyed by manifest digest, so a second
// round fetches only what changed.
using EntryCache = std::map<ckms::Digest, std::optional<oci::Descriptor>>;

std::optional<oci::Descriptor> entry_for(oci::Target& target, const oci::Descriptor& resolved, const std::string& tag,
                                         std::string_view version) {
  if (!oci::media_type::is_manifest(resolved.media_type)) return std::nullopt;
  const std::string where = fmt::format("{}:{}", target.describe(), tag);
  auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(target, resolved), where);
  // The tag prefix alone is ambiguous (1.0-rc1-<release> also starts with "1.0-"), so the
  // config decides which version and kernel a tag holds.
  if (!detail::is_module_manifest(manifest)) return std::nullopt;
  const auto module = detail::load_module(target, resolved, std::move(manifest), where);
  const auto& config = module.config;
  if (config.version != version || kernel_tag(version, config.kernel_release) != tag) return std::nullopt;
  return oci::Descriptor{
      .media_type = resolved.media_type,
      .digest = resolved.digest,
      .size = resolved.size,
      .annotations = {{std::string(kKernelReleaseAnnotation), config.kernel_release}},
      .artifact_type = std::string(kModuleArtifactType),
      .platform = oci::Platform{
          .os = "linux", .architecture = oci_architecture(config.arch), .os_version = config.kernel_release}};
}

std::vector<oci::Descriptor> collect_entries(oci::Target& target, std::string_view version, EntryCache& cache) {
  const std::string prefix = oci::sanitize_tag(version) + "-";
  std::vector<oci::Descriptor> entries;
  for (const auto& tag : target.tags()) {
    if (!tag.starts_with(prefix)) continue;
    const auto resolved = detail::try_resolve(target, tag);
    if (!resolved) continue;  // untagged since the listing
    auto [it, inserted] = cache.try_emplace(resolved->digest);
    if (inserted) it->second = entry_for(target, *resolved, tag, version);
    if (it->second) entries.push_back(*it->second);
  }
  std::sort(entries.begin(), entries.end(), [](const oci::Descriptor& a, const oci::Descriptor& b) {
    return std::tie(a.platform->os_version, a.digest) < std::tie(b.platform->os_version, b.digest);
  });
  return entries;
}

std::string index_bytes(const std::vector<oci::Descriptor>& entries) {
  return oci::ImageIndex{.artifact_type = std::string(kModuleArtifactType), .manifests = entries}.serialize();
}

}  // namespace

oci::Descriptor update_module_index(oci::Target& target, std::string_view version) {
  if (version.empty()) fail(ErrorKind::usage, "update_module_index: the version is empty");
  // A round is repeated only when the tags changed during the previous one. The bound keeps
  // a repository whose tags never settle from holding us here; the index is then as
  // complete as our last listing, and the next update completes it.
  constexpr int kMaxRounds = 8;
  EntryCache cache;
  auto entries = collect_entries(target, version, cache);
  for (int round = 1;; ++round) {
    if (entries.empty()) {
      fail(ErrorKind::not_found, "{}: no module artifact of version {} is tagged '{}-<kernel release>'",
           target.describe(), version, oci::sanitize_tag(version));
    }
    const std::string bytes = index_bytes(entries);
    const auto descriptor = oci::Descriptor::for_content(std::string(oci::media_type::kOciIndex), bytes);
    oci::push_bytes(target, descriptor, bytes);
    target.tag(descriptor, oci::sanitize_tag(version));
    auto now = collect_entries(target, version, cache);
    if (index_bytes(now) == bytes || round == kMaxRounds) return descriptor;
    entries = std::move(now);
  }
}

std::vector<std::string> published_kernels(oci::Target& target, std::string_view version) {
  const auto descriptor = detail::try_resolve(target, oci::sanitize_tag(version));
  if (!descriptor) return {};
  if (!oci::media_type::is_index(descriptor->media_type)) {
    fail(ErrorKind::integrity, "{}:{} is a {}, not a module index", target.describe(), version, descriptor->media_type);
  }
  const auto index =
      oci::ImageIndex::parse(oci::fetch_bytes(target, *descriptor), fmt::format("{}:{}", target.describe(), version));
  std::vector<std::string> kernels;
  for (const auto& entry : index.manifests) {
    if (auto release = entry.annotation(kKernelReleaseAnnotation)) kernels.push_back(*release);
  }
  std::sort(kernels.begin(), kernels.end());
  kernels.erase(std::unique(kernels.begin(), kernels.end()), kernels.end());
  return kernels;
}

}  // namespace ckms::artifact
