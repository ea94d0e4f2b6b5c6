#pragma once
// RPM binary packages (rpm 4 format): a 96-byte lead, a signature header, the main header and
// a compressed cpio payload. Read without rpm itself, so that a build host needs no RPM tools:
// the headers are parsed by hand (rpm_header.cpp says why and how), the payload is read with
// libarchive and unpacked through the same OCI layer extraction as a .deb's data.tar, which
// keeps every entry beneath the target directory.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ckms/oci/layer_unpack.hpp"

namespace ckms::images {

// One Provides or Requires entry: `name`, or `name relation version` ("<", "<=", "=", ">=", ">").
struct RpmRelation {
  std::string name;
  std::string relation;
  std::string version;

  bool operator==(const RpmRelation&) const = default;
};

// The main header's tags that ckms uses; which package it is and where its payload starts.
struct RpmHeader {
  std::string name;
  std::string version;
  std::string release;
  std::string arch;
  std::optional<std::uint32_t> epoch;
  std::int64_t build_time = 0;  // the default SOURCE_DATE_EPOCH of layers made from it
  std::vector<RpmRelation> provides;
  std::vector<RpmRelation> requires_;  // `requires` is a C++20 keyword
  std::string payload_compressor;      // "gzip", "xz", "zstd", ...; what libarchive detects decides
  bool source_package = false;         // a .src.rpm: sources and a spec, not files to install
  std::uint64_t payload_offset = 0;    // from the start of the file

  // "[epoch:]version-release", as rpm prints it.
  std::string evr() const;
  // "name-version-release.arch", the usual file name without ".rpm".
  std::string nevra() const;
};

// Reads and checks the lead and both headers. A file that is not an rpm 4 package, or whose
// headers are malformed or exceed rpm's own limits, is refused with an error naming it.
RpmHeader read_rpm_header(const std::filesystem::path& rpm);

// Unpacks the payload into `target` (which must exist), keeping its absolute layout
// (./usr/src/kernels/... lands at target/usr/src/kernels/...). Every entry is checked as a
// layer entry is (no "..", nothing written through a symlink that leaves the target), and an
// entry whose name lacks the "./" prefix that rpm gives every payload file is refused too.
oci::UnpackResult unpack_rpm(const std::filesystem::path& rpm, const std::filesystem::path& target);

}  // namespace ckms::images
