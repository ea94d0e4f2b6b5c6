// The source artifact: DKMS's mktarball as one deterministic tar+gzip layer with an empty
// config (OCI 1.1's artifact convention), so the same tree always gives the same layer and
// manifest digest, and a build keyed by the layer digest is the same whether it started
// from a directory or from a pulled artifact.

#include "ckms/artifact/source_artifact.hpp"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "ckms/base/error.hpp"
#include "ckms/oci/layer_create.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/reference.hpp"

namespace ckms::artifact {
namespace fs = std::filesystem;
namespace mt = oci::media_type;

namespace {

// Every mtime is clamped down to 1980-01-01T00:00:00Z: a checkout's mtimes are the time of
// the checkout, which would make each clone a different source. Not the environment's
// SOURCE_DATE_EPOCH, which would make the digest depend on who packed it.
constexpr std::int64_t kSourceEpoch = 315532800;

constexpr std::string_view kLayerTitle = "source.tar.gz";

void require_dkms_conf(const fs::path& source_dir) {
  std::error_code ec;
  if (!fs::is_directory(source_dir, ec)) {
    fail(ErrorKind::not_found, "{}: not a directory", source_dir.string());
  }
  // A symlink would be packed as a link and point outside the tree once unpacked.
  if (!fs::is_regular_file(fs::symlink_status(source_dir / "dkms.conf", ec))) {
    fail(ErrorKind::usage, "{}: no dkms.conf (a regular file) at its top; not a DKMS source tree", source_dir.string());
  }
}

bool is_tar_layer(std::string_view media_type) {
  return media_type == mt::kOciLayerGzip || media_type == mt::kOciLayerTar || media_type == mt::kOciLayerZstd;
}

// The directory the source is unpacked into before it is renamed to its destination, so a
// failed or refused unpack leaves nothing at `dest`.
class Staging {
 public:
  explicit Staging(const fs::path& dest) {
    const fs::path parent = dest.parent_path().empty() ? fs::path(".") : dest.parent_path();
    fs::create_directories(parent);
    std::string pattern = (parent / ("." + dest.filename().string() + ".ckms-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) fail_errno("cannot create a directory beside " + dest.string());
    path_ = pattern;
  }
  ~Staging() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

  const fs::path& path() const { return path_; }

  // rename(2) replaces an empty directory, and refuses a non-empty one.
  void commit(const fs::path& dest) {
    fs::permissions(path_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
    std::error_code ec;
    fs::rename(path_, dest, ec);
    if (ec) fail(ErrorKind::io, "{}: cannot move the unpacked source into place: {}", dest.string(), ec.message());
    path_.clear();
  }

 private:
  fs::path path_;
};

}  // namespace

PackedSource pack_source(const fs::path& source_dir, const fs::path& work_dir) {
  require_dkms_conf(source_dir);
  fs::create_directories(work_dir);
  const fs::path layer_file = work_dir / kLayerTitle;
  const auto created = oci::create_layer(
      source_dir, layer_file,
      oci::CreateOptions{.compression = oci::LayerCompression::gzip, .source_date_epoch = kSourceEpoch});
  return PackedSource{
      .layer_file = layer_file, .digest = created.digest, .size = static_cast<std::int64_t>(created.size)};
}

oci::Descriptor push_packed_source(oci::Target& target, const PackedSource& packed, std::string_view tag) {
  if (!oci::is_valid_tag(tag)) fail(ErrorKind::usage, "'{}' is not a valid tag", tag);
  oci::Descriptor layer{.media_type = std::string(oci::layer_media_type(oci::LayerCompression::gzip)),
                        .digest = packed.digest,
                        .size = packed.size,
                        .annotations = {{std::string(oci::annotation::kTitle), std::string(kLayerTitle)}}};
  if (!target.exists(layer)) oci::push_file(target, layer, packed.layer_file);
  oci::ImageManifest manifest{.artifact_type = std::string(kSourceArtifactType),
                              .config = oci::Descriptor::for_content(std::string(mt::kOciEmpty), mt::kEmptyJson),
                              .layers = {layer}};
  oci::push_bytes(target, manifest.config, mt::kEmptyJson);
  const std::string bytes = manifest.serialize();
  const auto descriptor = oci::Descriptor::for_content(std::string(mt::kOciManifest), bytes);
  oci::push_bytes(target, descriptor, bytes);
  target.tag(descriptor, tag);
  return descriptor;
}

oci::Descriptor push_source(oci::Target& target, const fs::path& source_dir, std::string_view tag,
                            const fs::path& work_dir) {
  if (!oci::is_valid_tag(tag)) fail(ErrorKind::usage, "'{}' is not a valid tag", tag);
  return push_packed_source(target, pack_source(source_dir, work_dir), tag);
}

FetchedSource fetch_source(oci::Target& target, std::string_view tag_or_digest, const fs::path& dest) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(dest, ec)) &&
      !(fs::is_directory(fs::symlink_status(dest, ec)) && fs::is_empty(dest, ec))) {
    fail(ErrorKind::usage, "{}: exists and is not an empty directory", dest.string());
  }
  const auto descriptor = target.resolve(tag_or_digest);
  const std::string where = fmt::format("{}:{}", target.describe(), tag_or_digest);
  if (!mt::is_manifest(descriptor.media_type)) {
    fail(ErrorKind::usage, "{} is a {}, not a source artifact manifest", where, descriptor.media_type);
  }
  const auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(target, descriptor), where);
  if (manifest.artifact_type != kSourceArtifactType) {
    fail(ErrorKind::usage, "{} is not a source artifact (artifactType '{}', not {})", where,
         manifest.artifact_type.value_or(""), kSourceArtifactType);
  }
  if (manifest.layers.size() != 1 || !is_tar_layer(manifest.layers.front().media_type)) {
    fail(ErrorKind::integrity, "{}: a source artifact has exactly one tar layer", where);
  }
  const auto& layer = manifest.layers.front();

  Staging staging(dest);
  {
    auto reader = target.fetch(layer);  // verifies digest and size as it streams
    oci::apply_layer(
        *reader, staging.path(),
        oci::UnpackOptions{.layer_name = fmt::format("{} layer {}", where, layer.digest.str()), .xattrs = false});
  }
  if (!fs::is_regular_file(fs::symlink_status(staging.path() / "dkms.conf", ec))) {
    fail(ErrorKind::integrity, "{}: the source has no dkms.conf at its top", where);
  }
  staging.commit(dest);
  return FetchedSource{.manifest = descriptor, .layer_digest = layer.digest};
}

}  // namespace ckms::artifact
