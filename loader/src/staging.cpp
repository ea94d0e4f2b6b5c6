// Staging: what a load fetches waits beside the cache until the load has succeeded.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "ckms/base/error.hpp"
#include "ckms/kmod/compress.hpp"
#include "ckms/loader/cache.hpp"
#include "ckms/oci/media_types.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kStagingPrefix = ".staging-";
constexpr std::string_view kLockFile = ".lock";

// A staging directory is abandoned when its lock file has been written (so its owner got
// the lock) and nobody holds the lock any more: its load crashed or was killed.
void remove_abandoned(const fs::path& cache_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cache_dir, ec)) {
    if (!entry.path().filename().string().starts_with(kStagingPrefix)) continue;
    const fs::path lock = entry.path() / kLockFile;
    ckms::UniqueFd fd(::open(lock.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_size == 0) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
    fs::remove_all(entry.path(), ec);
  }
}

oci::Descriptor layer_descriptor(const artifact::ModuleFile& file) {
  return oci::Descriptor{.media_type = std::string(artifact::kModuleLayerMediaType),
                         .digest = file.digest,
                         .size = file.size,
                         .annotations = {{std::string(oci::annotation::kTitle), file.file_name}}};
}

std::string_view media_type_role(std::string_view media_type) {
  return media_type == artifact::kModuleConfigMediaType ? "config" : "manifest";
}

}  // namespace

Staging::Staging(ModuleCache& cache, oci::Target* source) : cache_(cache), source_(source) {
  remove_abandoned(cache_.directory());
  std::string templ = (cache_.directory() / (std::string(kStagingPrefix) + "XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr)
    fail_errno("cannot create a staging directory in " + cache_.directory().string());
  directory_ = templ;
  const fs::path lock = directory_ / kLockFile;
  lock_ = ckms::UniqueFd(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock_ || ::flock(lock_.get(), LOCK_EX) != 0) fail_errno("cannot lock " + lock.string());
  const std::string pid = std::to_string(::getpid()) + "\n";
  ckms::write_all(lock_.get(), std::as_bytes(std::span(pid)), lock.string());
  staged_ = std::make_unique<oci::Layout>(directory_ / "oci", oci::Layout::Mode::create_if_missing);
}

Staging::~Staging() {
  std::error_code ec;
  fs::remove_all(directory_, ec);
}

fs::path Staging::staged_or_cached(const ckms::Digest& digest) const {
  fs::path staged = staged_->blob_path(digest);
  std::error_code ec;
  if (fs::exists(staged, ec)) return staged;
  return cache_.layout().blob_path(digest);
}

void Staging::fetch_blob(const oci::Descriptor& descriptor) {
  if (source_ == nullptr) {
    fail(ErrorKind::not_found, "blob {} is missing from the cache {} and no registry may be asked (offline)",
         descriptor.digest.str(), cache_.directory().string());
  }
  const std::string what = descriptor.media_type == artifact::kModuleLayerMediaType
                               ? fmt::format("layer '{}'", descriptor.annotation(oci::annotation::kTitle).value_or("?"))
                               : std::string(media_type_role(descriptor.media_type));
  try {
    auto reader = source_->fetch(descriptor);
    staged_->push(descriptor, *reader);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::integrity) {
      fail(e.kind(), "{} ({}) from {} does not match its digest: {}", what, descriptor.digest.str(),
           source_->describe(), e.what());
    }
    fail(e.kind(), "fetching {} ({}) from {}: {}", what, descriptor.digest.str(), source_->describe(), e.what());
  }
}

void Staging::fetch(const artifact::ResolvedModule& module) {
  std::vector<oci::Descriptor> needed{module.manifest_descriptor, module.manifest.config};
  for (const auto& layer : module.manifest.layers) needed.push_back(layer);
  for (const auto& descriptor : needed) {
    if (!cache_.layout().exists(descriptor) && !staged_->exists(descriptor)) fetch_blob(descriptor);
  }
}

LocalBlob Staging::read_layer(const artifact::ModuleFile& file) {
  const oci::Descriptor descriptor = layer_descriptor(file);
  if (static_cast<std::uint64_t>(file.size) > kmod::kDefaultDecompressLimit) {
    fail(ErrorKind::refused, "{} ({}): {} bytes is more than a module may have", file.file_name, file.digest.str(),
         file.size);
  }
  const fs::path path = staged_or_cached(file.digest);
  LocalBlob blob;
  blob.file = ckms::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!blob.file) {
    if (errno == ENOENT) {
      fetch_blob(descriptor);
      return read_layer(file);
    }
    fail_errno("cannot open " + path.string());
  }
  struct stat st {};
  if (::fstat(blob.file.get(), &st) != 0) fail_errno("cannot stat " + path.string());
  if (!S_ISREG(st.st_mode)) fail(ErrorKind::integrity, "{}: not a regular file", path.string());

  blob.bytes.resize(static_cast<std::size_t>(std::min<std::int64_t>(st.st_size, file.size + 1)));
  std::size_t got = 0;
  while (got < blob.bytes.size()) {
    const ssize_t n =
        ::pread(blob.file.get(), blob.bytes.data() + got, blob.bytes.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("cannot read " + path.string());
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  blob.bytes.resize(got);
  if (got == static_cast<std::size_t>(file.size) &&
      ckms::digest_of(blob.bytes, file.digest.algorithm()) == file.digest) {
    return blob;
  }
  const bool cached = path == cache_.layout().blob_path(file.digest);
  if (cached && source_ != nullptr) {
    fetch_blob(descriptor);
    return read_layer(file);
  }
  fail(ErrorKind::integrity, "{}: {} does not match its digest {}{}", file.file_name, path.string(), file.digest.str(),
       cached ? " (the cache was altered; load online to fetch it again)" : "");
}

void Staging::commit(const artifact::ResolvedModule& module, std::string_view name) {
  const fs::path blobs = staged_->directory() / "blobs";
  std::error_code ec;
  for (const auto& algorithm_dir : fs::directory_iterator(blobs)) {
    for (const auto& blob : fs::directory_iterator(algorithm_dir.path())) {
      const auto digest =
          ckms::Digest::try_parse(algorithm_dir.path().filename().string() + ":" + blob.path().filename().string());
      if (!digest) continue;  // a temp file of a push that failed
      const fs::path target = cache_.layout().blob_path(*digest);
      fs::create_directories(target.parent_path(), ec);
      if (::rename(blob.path().c_str(), target.c_str()) != 0) {
        fail_errno("cannot move " + blob.path().string() + " into the cache");
      }
      ckms::fsync_directory(target.parent_path());
    }
  }
  cache_.layout().tag(module.manifest_descriptor, name);
}

}  // namespace ckms::loader
