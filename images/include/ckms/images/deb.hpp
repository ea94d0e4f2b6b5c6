#pragma once
// Debian binary packages (deb(5)): an `ar` archive holding control.tar.* and data.tar.*,
// each compressed with xz, zstd or gzip (or not). Read with libarchive, never with dpkg, so
// that a build host needs no Debian tools; data is unpacked through the OCI layer
// extraction code, which keeps every entry beneath the target directory.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "ckms/oci/layer_unpack.hpp"

namespace ckms::images {

// The fields of a package's control file (deb-control(5)); continuation lines are joined
// with '\n' as dpkg does.
struct DebControl {
  std::map<std::string, std::string> fields;
  // When the package was built: the mtime of its data.tar member, used as the default
  // SOURCE_DATE_EPOCH of layers made from it.
  std::int64_t build_time = 0;

  std::string field(std::string_view name) const;  // "" when absent
  std::string package() const { return field("Package"); }
  std::string version() const { return field("Version"); }
};

// Parses control-file text; `where` names the package in errors.
std::map<std::string, std::string> parse_control_fields(std::string_view text, std::string_view where);

DebControl read_deb_control(const std::filesystem::path& deb);

// Unpacks the package's data.tar.* into `target` (which must exist), keeping its absolute
// layout (usr/src/... lands at target/usr/src/...).
oci::UnpackResult unpack_deb(const std::filesystem::path& deb, const std::filesystem::path& target);

}  // namespace ckms::images
