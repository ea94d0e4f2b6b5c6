#pragma once
// Deterministic layers from a directory (kernel headers layers, source artifacts): the same
// tree gives the same bytes, whatever its mtimes above the clamp, directory order, owners or
// the time of the run. Entries are sorted by path bytes, owned by 0:0 with empty names, in
// pax-restricted format (plain ustar unless a name or value does not fit), without atime,
// ctime or extended attributes unless asked.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "ckms/base/digest.hpp"

namespace ckms::oci {

enum class LayerCompression { none, gzip, zstd };

// The OCI media type of a layer with this compression ("application/vnd.oci.image.layer.v1.tar"
// with "+gzip" or "+zstd").
std::string_view layer_media_type(LayerCompression compression);

struct CreateOptions {
  LayerCompression compression = LayerCompression::gzip;
  // Later mtimes are clamped down to this (reproducible-builds.org SOURCE_DATE_EPOCH).
  std::optional<std::int64_t> source_date_epoch;
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::string uname;
  std::string gname;
  bool xattrs = false;
};

struct CreatedLayer {
  Digest digest;           // of the bytes written: the layer blob digest
  Digest diff_id;          // of the uncompressed tar: the image config's diff_id
  std::uint64_t size = 0;  // bytes written
  std::uint64_t uncompressed_size = 0;
  std::string media_type;
};

// Writes the content of `source` (not the directory itself) as a layer to `output`, which
// appears only complete (AtomicFile). Symlinks are stored, never followed; sockets are left
// out; files changing size while read fail the creation.
CreatedLayer create_layer(const std::filesystem::path& source, const std::filesystem::path& output,
                          const CreateOptions& options = {});

}  // namespace ckms::oci
