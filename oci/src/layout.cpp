#include "ckms/oci/layout.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <set>

#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"

namespace ckms::oci {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kLayoutMarker = R"({"imageLayoutVersion":"1.0.0"})";

// Serialises index.json read-modify-write cycles between processes. The lock lives in its
// own file because index.json itself is replaced by rename, which would orphan a lock on it.
class IndexLock {
 public:
  IndexLock(const fs::path& directory, int operation) {
    const fs::path file = directory / "index.json.lock";
    // O_NOFOLLOW: a symlink planted under this name must not make root create a file elsewhere.
    fd_ = UniqueFd(::open(file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd_ && operation == LOCK_SH && (errno == EACCES || errno == EROFS || errno == EPERM)) {
      // A reader without write permission. index.json is only ever replaced whole by a
      // rename, so an unlocked read sees one version or the next, never a mix.
      fd_ = UniqueFd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd_ && errno != ELOOP) return;
    }
    if (!fd_) fail_errno("cannot open lock " + file.string());
    while (::flock(fd_.get(), operation) != 0) {
      if (errno != EINTR) fail_errno("cannot lock " + file.string());
    }
  }

 private:
  UniqueFd fd_;
};

void write_atomically(const fs::path& file, std::string_view content) {
  AtomicFile out(file);
  out.write(content);
  out.commit();
}

ImageIndex read_index(const fs::path& directory) {
  const fs::path file = directory / "index.json";
  return ImageIndex::parse(read_file(file, kMaxManifestBytes), file.string());
}

void write_index(const fs::path& directory, const ImageIndex& index) {
  write_atomically(directory / "index.json", index.serialize());
}

}  // namespace

Layout::Layout(fs::path directory, Mode mode) : directory_(std::move(directory)) {
  const bool present = fs::exists(directory_ / "oci-layout");
  if (!present && mode == Mode::open_existing) {
    fail(ErrorKind::not_found, "{}: not an OCI image layout (no oci-layout file)", directory_.string());
  }
  if (!present) {
    std::error_code ec;
    fs::create_directories(directory_ / "blobs" / "sha256", ec);
    if (ec) fail(ErrorKind::io, "cannot create {}: {}", directory_.string(), ec.message());
    IndexLock lock(directory_, LOCK_EX);
    if (!fs::exists(directory_ / "index.json")) write_index(directory_, ImageIndex{});
    if (!fs::exists(directory_ / "oci-layout")) write_atomically(directory_ / "oci-layout", kLayoutMarker);
  }
}

std::string Layout::describe() const { return "oci:" + directory_.string(); }

fs::path Layout::blob_path(const Digest& digest) const {
  return directory_ / "blobs" / std::string(to_string(digest.algorithm())) / digest.hex();
}

std::vector<Descriptor> Layout::entries() const {
  IndexLock lock(directory_, LOCK_SH);
  return read_index(directory_).manifests;
}

Descriptor Layout::resolve(std::string_view tag_or_digest) {
  if (auto digest = Digest::try_parse(tag_or_digest)) {
    for (const auto& entry : entries()) {
      if (entry.digest == *digest) return entry;
    }
    const fs::path file = blob_path(*digest);
    if (!fs::exists(file)) {
      fail(ErrorKind::not_found, "{}: no manifest {}", describe(), digest->str());
    }
    const std::string bytes = read_file(file, kMaxManifestBytes);
    if (digest_of(bytes, digest->algorithm()) != *digest) {
      fail(ErrorKind::integrity, "{}: blob {} does not match its digest", describe(), digest->str());
    }
    return Descriptor{.media_type = detect_manifest_media_type(bytes, file.string()),
                      .digest = *digest,
                      .size = static_cast<std::int64_t>(bytes.size())};
  }
  const auto all = entries();
  if (tag_or_digest.empty()) {
    if (all.size() == 1) return all.front();
    fail(ErrorKind::usage, "{} holds {} manifests; name one with :TAG", describe(), all.size());
  }
  for (const auto& entry : all) {
    if (entry.annotation(annotation::kRefName) == tag_or_digest) return entry;
  }
  fail(ErrorKind::not_found, "{}: no tag '{}'", describe(), tag_or_digest);
}

bool Layout::exists(const Descriptor& descriptor) {
  std::error_code ec;
  const auto size = fs::file_size(blob_path(descriptor.digest), ec);
  return !ec && static_cast<std::int64_t>(size) == descriptor.size;
}

std::unique_ptr<Reader> Layout::fetch(const Descriptor& descriptor) {
  const fs::path file = blob_path(descriptor.digest);
  if (!fs::exists(file)) {
    fail(ErrorKind::not_found, "{}: blob {} is missing", describe(), descriptor.digest.str());
  }
  return verified(std::make_unique<FileReader>(file), descriptor,
                  fmt::format("blob {} in {}", descriptor.digest.str(), describe()));
}

Stored Layout::push(const Descriptor& descriptor, Reader& content, const ProgressFn& progress) {
  const fs::path file = blob_path(descriptor.digest);
  const Stored stored = exists(descriptor) ? Stored::present : Stored::uploaded;
  if (stored == Stored::uploaded) {
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    AtomicFile out(file, descriptor.digest.algorithm());
    out.write_from(content, progress);
    try {
      out.commit(descriptor.digest, descriptor.size, 0444);
    } catch (const Error& e) {
      fail(e.kind(), "pushing {} to {}: {}", descriptor.digest.str(), describe(), e.what());
    }
  }
  // A manifest that refers to another is listed so that referrers() can find it; OCI
  // layouts have no other place to record the relation.
  if (media_type::is_manifest_or_index(descriptor.media_type)) {
    const std::string bytes = read_file(file, kMaxManifestBytes);
    const auto j = nlohmann::json::parse(bytes, nullptr, false);
    if (j.is_object() && j.contains("subject")) {
      IndexLock lock(directory_, LOCK_EX);
      ImageIndex index = read_index(directory_);
      for (const auto& entry : index.manifests) {
        if (entry.digest == descriptor.digest && entry.annotations.empty()) return stored;
      }
      Descriptor entry = descriptor;
      entry.annotations.clear();
      if (j.contains("artifactType")) entry.artifact_type = j["artifactType"].get<std::string>();
      index.manifests.push_back(entry);
      write_index(directory_, index);
    }
  }
  return stored;
}

void Layout::tag(const Descriptor& manifest, std::string_view tag) {
  if (!exists(manifest)) {
    fail(ErrorKind::not_found, "{}: cannot tag '{}': manifest {} is not stored", describe(), tag,
         manifest.digest.str());
  }
  IndexLock lock(directory_, LOCK_EX);
  ImageIndex index = read_index(directory_);
  std::erase_if(index.manifests, [&](const Descriptor& d) { return d.annotation(annotation::kRefName) == tag; });
  Descriptor entry = manifest;
  entry.annotations[std::string(annotation::kRefName)] = std::string(tag);
  index.manifests.push_back(entry);
  write_index(directory_, index);
}

void Layout::untag(std::string_view tag) {
  IndexLock lock(directory_, LOCK_EX);
  ImageIndex index = read_index(directory_);
  const auto removed =
      std::erase_if(index.manifests, [&](const Descriptor& d) { return d.annotation(annotation::kRefName) == tag; });
  if (removed == 0) fail(ErrorKind::not_found, "{}: no tag '{}'", describe(), tag);
  write_index(directory_, index);
}

std::vector<std::string> Layout::tags() {
  std::vector<std::string> out;
  for (const auto& entry : entries()) {
    if (auto name = entry.annotation(annotation::kRefName)) out.push_back(*name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Descriptor> Layout::referrers(const Descriptor& subject, std::optional<std::string_view> artifact_type) {
  std::vector<Descriptor> out;
  for (const auto& entry : entries()) {
    if (!media_type::is_manifest_or_index(entry.media_type) || !exists(entry)) continue;
    const auto j = nlohmann::json::parse(fetch_bytes(*this, entry), nullptr, false);
    if (!j.is_object() || !j.contains("subject")) continue;
    if (j["subject"].value("digest", "") != subject.digest.str()) continue;
    Descriptor d = entry;
    d.annotations.clear();
    d.artifact_type = j.value("artifactType", j.contains("config") ? j["config"].value("mediaType", "") : "");
    if (artifact_type && d.artifact_type != *artifact_type) continue;
    out.push_back(d);
  }
  return out;
}

namespace {

// Every blob reachable from `root`, manifests included, collected depth-first.
void reachable(Layout& layout, const Descriptor& root, std::set<Digest>& seen, std::vector<std::string>& problems,
               int depth = 0) {
  if (!seen.insert(root.digest).second) return;
  if (!layout.exists(root)) {
    problems.push_back(fmt::format("{} is referenced but missing", root.describe()));
    return;
  }
  if (!media_type::is_manifest_or_index(root.media_type) || depth > 8) return;
  const std::string bytes = fetch_bytes(layout, root);
  const std::string where = root.digest.str();
  if (media_type::is_index(root.media_type)) {
    for (const auto& child : ImageIndex::parse(bytes, where).manifests) {
      reachable(layout, child, seen, problems, depth + 1);
    }
  } else {
    for (const auto& child : ImageManifest::parse(bytes, where).children()) {
      reachable(layout, child, seen, problems, depth + 1);
    }
  }
}

}  // namespace

std::size_t Layout::gc() {
  IndexLock lock(directory_, LOCK_EX);
  std::set<Digest> keep;
  std::vector<std::string> problems;
  for (const auto& entry : read_index(directory_).manifests) reachable(*this, entry, keep, problems);
  std::size_t removed = 0;
  for (const auto& algorithm_dir : fs::directory_iterator(directory_ / "blobs")) {
    for (const auto& blob : fs::directory_iterator(algorithm_dir.path())) {
      const auto digest =
          Digest::try_parse(algorithm_dir.path().filename().string() + ":" + blob.path().filename().string());
      // Unnamed files are temp files of interrupted writes: garbage by construction.
      if (!digest || !keep.contains(*digest)) {
        fs::remove(blob.path());
        ++removed;
      }
    }
  }
  return removed;
}

std::vector<std::string> Layout::verify() {
  std::vector<std::string> problems;
  for (const auto& algorithm_dir : fs::directory_iterator(directory_ / "blobs")) {
    for (const auto& blob : fs::directory_iterator(algorithm_dir.path())) {
      const std::string name = algorithm_dir.path().filename().string() + ":" + blob.path().filename().string();
      const auto digest = Digest::try_parse(name);
      if (!digest) {
        // AtomicFile's hidden temp files: a write in progress, or one a crash cut short.
        // Neither is content anyone can read, so a crash does not fail verification for
        // good; gc() removes them.
        if (blob.path().filename().string().starts_with(".")) continue;
        problems.push_back(fmt::format("{}: not a blob name", blob.path().string()));
        continue;
      }
      if (digest_of_file(blob.path(), digest->algorithm()) != *digest) {
        problems.push_back(fmt::format("{}: content does not match its digest", blob.path().string()));
      }
    }
  }
  std::set<Digest> seen;
  for (const auto& entry : entries()) {
    try {
      reachable(*this, entry, seen, problems);
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  return problems;
}

}  // namespace ckms::oci
