#pragma once
// A Reader that decompresses another Reader (xz, zstd, gzip, bzip2 or none, detected from
// the bytes). The OCI layer code reads only gzip and zstd, which is all OCI allows; Debian
// packages and rootfs tarballs commonly use xz, so they pass through here first.

#include <memory>
#include <string>

#include "ckms/base/io.hpp"

namespace ckms::images {

std::unique_ptr<ckms::Reader> decompressing(ckms::Reader& compressed, std::string what);

}  // namespace ckms::images
