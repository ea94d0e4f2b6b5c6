// RPM headers, parsed by hand. libarchive's rpm filter only skips the headers to reach the
// payload; it does not read tags. Asking `rpm -qp --queryformat` would make rpm a runtime
// dependency of every build host (the point of --rpms is a host without distro tools), and
// librpm is a large library for five strings and two lists. The structure is small and fixed
// (rpm's docs/manual/format.md and format_header.md, lib/header.c):
//
//   lead       96 bytes: magic ed ab ee db, format major 3, ..., signature type 5
//   header     magic 8e ad e8 01, 4 reserved bytes, nindex (be32), hsize (be32),
//              nindex entries of {tag, type, offset, count} (be32 each), then hsize bytes of
//              data ("the store") that the entries point into
//   signature  a header, padded to a multiple of 8 bytes
//   main       a header; the payload follows it directly
//
// Every number is checked against the file and the store before it is used, with rpm's own
// limits (at most 0xffff entries, a store below 256 MiB). Only the entries ckms needs are read,
// each at most 1 MiB, straight from the file: the store itself (file digests, names, sizes of
// tens of thousands of files in a kernel-devel) is never held in memory.
#include "ckms/images/rpm.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <span>
#include <vector>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

namespace ckms::images {
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kLeadSize = 96;
constexpr std::array<unsigned char, 4> kLeadMagic{0xed, 0xab, 0xee, 0xdb};
constexpr std::array<unsigned char, 4> kHeaderMagic{0x8e, 0xad, 0xe8, 0x01};
constexpr std::uint32_t kMaxEntries = 0xffff;                   // rpm's hdrchkTags
constexpr std::uint32_t kMaxStore = 0x0fffffff;                 // rpm's HEADER_DATA_MAX
constexpr std::uint64_t kMaxTagBytes = std::uint64_t{1} << 20;  // ckms's: names and short lists
constexpr std::uint16_t kSignatureHeaderType = 5;               // RPMSIGTYPE_HEADERSIG, the only one since rpm 3

enum Tag : std::uint32_t {
  kName = 1000,
  kVersion = 1001,
  kRelease = 1002,
  kEpoch = 1003,
  kBuildTime = 1006,
  kArch = 1022,
  kSourceRpm = 1044,
  kProvideName = 1047,
  kRequireFlags = 1048,
  kRequireName = 1049,
  kRequireVersion = 1050,
  kProvideFlags = 1112,
  kProvideVersion = 1113,
  kPayloadFormat = 1124,
  kPayloadCompressor = 1125,
};

enum Type : std::uint32_t { kInt32 = 4, kString = 6, kStringArray = 8 };

// rpmds.h: the comparison bits of a dependency's flags.
constexpr std::uint32_t kSenseLess = 0x02;
constexpr std::uint32_t kSenseGreater = 0x04;
constexpr std::uint32_t kSenseEqual = 0x08;

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

class RpmFile {
 public:
  explicit RpmFile(const fs::path& path) : path_(path) {
    fd_ = ckms::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_) {
      if (errno == ENOENT) fail(ErrorKind::not_found, "{}: no such RPM package", path.string());
      fail_errno(path.string());
    }
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) fail_errno(path.string());
    if (!S_ISREG(st.st_mode)) fail(ErrorKind::usage, "{}: not a regular file", path.string());
    size_ = static_cast<std::uint64_t>(st.st_size);
  }

  std::uint64_t size() const { return size_; }
  std::string name() const { return path_.string(); }

  // Exactly `out.size()` bytes at `offset`; `what` says which part a short file lacks.
  void read(std::uint64_t offset, std::span<unsigned char> out, std::string_view what) const {
    if (offset > size_ || out.size() > size_ - offset) {
      fail(ErrorKind::integrity, "{}: truncated RPM package: {} runs past its {} bytes", name(), what, size_);
    }
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail_errno(name());
      if (n == 0) fail(ErrorKind::integrity, "{}: truncated RPM package while reading {}", name(), what);
      done += static_cast<std::size_t>(n);
    }
  }

 private:
  fs::path path_;
  ckms::UniqueFd fd_;
  std::uint64_t size_ = 0;
};

struct IndexEntry {
  std::uint32_t tag = 0;
  std::uint32_t type = 0;
  std::uint32_t offset = 0;
  std::uint32_t count = 0;
};

// One header structure: its index in memory, its store left in the file.
class Header {
 public:
  Header(const RpmFile& file, std::uint64_t offset, std::string which) : file_(file), which_(std::move(which)) {
    std::array<unsigned char, 16> intro{};
    file.read(offset, intro, which_);
    if (!std::equal(kHeaderMagic.begin(), kHeaderMagic.end(), intro.begin())) {
      fail(ErrorKind::integrity, "{}: {} does not start with the RPM header magic", file.name(), which_);
    }
    const std::uint32_t entries = be32(&intro[8]);
    store_size_ = be32(&intro[12]);
    if (entries == 0 || entries > kMaxEntries || store_size_ > kMaxStore) {
      fail(ErrorKind::integrity, "{}: {} declares {} entries and {} bytes of data, outside rpm's limits", file.name(),
           which_, entries, store_size_);
    }
    std::vector<unsigned char> index(std::size_t{entries} * 16);
    file.read(offset + intro.size(), index, which_ + " index");
    index_.reserve(entries);
    for (std::size_t i = 0; i < entries; ++i) {
      const unsigned char* e = &index[i * 16];
      index_.push_back({be32(e), be32(e + 4), be32(e + 8), be32(e + 12)});
    }
    store_offset_ = offset + intro.size() + index.size();
    if (end() > file.size()) {
      fail(ErrorKind::integrity, "{}: truncated RPM package: the {} ends at byte {} of {}", file.name(), which_, end(),
           file.size());
    }
  }

  std::uint64_t end() const { return store_offset_ + store_size_; }

  bool has(std::uint32_t tag) const { return find(tag) != nullptr; }

  std::optional<std::string> string(std::uint32_t tag) const {
    const IndexEntry* entry = find(tag);
    if (entry == nullptr) return std::nullopt;
    expect(*entry, kString);
    if (entry->count != 1)
      fail(ErrorKind::integrity, "{}: {} tag {}: a string with count {}", file_.name(), which_, tag, entry->count);
    return strings_at(*entry).front();
  }

  std::vector<std::string> strings(std::uint32_t tag) const {
    const IndexEntry* entry = find(tag);
    if (entry == nullptr) return {};
    expect(*entry, kStringArray);
    return strings_at(*entry);
  }

  std::vector<std::uint32_t> int32s(std::uint32_t tag) const {
    const IndexEntry* entry = find(tag);
    if (entry == nullptr) return {};
    expect(*entry, kInt32);
    const std::uint64_t bytes = std::uint64_t{entry->count} * 4;
    if (bytes > kMaxTagBytes || entry->offset > store_size_ || bytes > store_size_ - entry->offset) {
      fail(ErrorKind::integrity, "{}: {} tag {}: {} integers at offset {} do not fit its {} bytes of data",
           file_.name(), which_, tag, entry->count, entry->offset, store_size_);
    }
    std::vector<unsigned char> raw(bytes);
    file_.read(store_offset_ + entry->offset, raw, which_);
    std::vector<std::uint32_t> values;
    for (std::size_t i = 0; i < raw.size(); i += 4) values.push_back(be32(&raw[i]));
    return values;
  }

 private:
  const IndexEntry* find(std::uint32_t tag) const {
    for (const auto& entry : index_) {
      if (entry.tag == tag) return &entry;
    }
    return nullptr;
  }

  void expect(const IndexEntry& entry, std::uint32_t type) const {
    if (entry.type != type) {
      fail(ErrorKind::integrity, "{}: {} tag {} has type {}, not {}", file_.name(), which_, entry.tag, entry.type,
           type);
    }
  }

  // `count` NUL-terminated strings from the entry's offset, all inside the store.
  std::vector<std::string> strings_at(const IndexEntry& entry) const {
    if (entry.offset >= store_size_) {
      fail(ErrorKind::integrity, "{}: {} tag {}: offset {} is outside its {} bytes of data", file_.name(), which_,
           entry.tag, entry.offset, store_size_);
    }
    const std::uint64_t window = std::min<std::uint64_t>(store_size_ - entry.offset, kMaxTagBytes);
    std::vector<unsigned char> raw(window);
    file_.read(store_offset_ + entry.offset, raw, which_);
    std::vector<std::string> values;
    std::size_t start = 0;
    while (values.size() < entry.count) {
      const auto nul = std::find(raw.begin() + static_cast<std::ptrdiff_t>(start), raw.end(), 0);
      if (nul == raw.end()) {
        fail(ErrorKind::integrity, "{}: {} tag {}: {} strings do not end within {} bytes", file_.name(), which_,
             entry.tag, entry.count, window);
      }
      const auto end = static_cast<std::size_t>(nul - raw.begin());
      values.emplace_back(reinterpret_cast<const char*>(raw.data() + start), end - start);
      start = end + 1;
    }
    return values;
  }

  const RpmFile& file_;
  std::string which_;
  std::vector<IndexEntry> index_;
  std::uint64_t store_offset_ = 0;
  std::uint32_t store_size_ = 0;
};

std::string relation_of(std::uint32_t flags) {
  std::string relation;
  if ((flags & kSenseLess) != 0) relation += '<';
  if ((flags & kSenseGreater) != 0) relation += '>';
  if ((flags & kSenseEqual) != 0) relation += '=';
  return relation;
}

std::vector<RpmRelation> relations(const Header& header, std::uint32_t names_tag, std::uint32_t flags_tag,
                                   std::uint32_t versions_tag, std::string_view what, const RpmFile& file) {
  const auto names = header.strings(names_tag);
  const auto flags = header.int32s(flags_tag);
  const auto versions = header.strings(versions_tag);
  if (flags.size() != names.size() || versions.size() != names.size()) {
    fail(ErrorKind::integrity, "{}: {}: {} names, {} flags and {} versions", file.name(), what, names.size(),
         flags.size(), versions.size());
  }
  std::vector<RpmRelation> result;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string relation = versions[i].empty() ? "" : relation_of(flags[i]);
    result.push_back({names[i], relation, relation.empty() ? "" : versions[i]});
  }
  return result;
}

std::string required_string(const Header& header, std::uint32_t tag, std::string_view what, const RpmFile& file) {
  auto value = header.string(tag);
  if (!value || value->empty()) fail(ErrorKind::integrity, "{}: the RPM header has no {}", file.name(), what);
  return std::move(*value);
}

}  // namespace

std::string RpmHeader::evr() const {
  return fmt::format("{}{}-{}", epoch ? fmt::format("{}:", *epoch) : "", version, release);
}

std::string RpmHeader::nevra() const { return fmt::format("{}-{}-{}.{}", name, version, release, arch); }

RpmHeader read_rpm_header(const fs::path& rpm) {
  const RpmFile file(rpm);
  std::array<unsigned char, kLeadSize> lead{};
  if (file.size() < lead.size())
    fail(ErrorKind::integrity, "{}: not an RPM package ({} bytes)", file.name(), file.size());
  file.read(0, lead, "lead");
  if (!std::equal(kLeadMagic.begin(), kLeadMagic.end(), lead.begin())) {
    fail(ErrorKind::integrity, "{}: not an RPM package (no RPM lead magic)", file.name());
  }
  // rpm 4 writes lead format 3; other versions put other things after the lead.
  if (lead[4] != 3)
    fail(ErrorKind::integrity, "{}: RPM lead format {}, only 3 (rpm 4 packages) is read", file.name(), lead[4]);
  const std::uint16_t signature_type = static_cast<std::uint16_t>((lead[78] << 8) | lead[79]);
  if (signature_type != kSignatureHeaderType) {
    fail(ErrorKind::integrity, "{}: RPM signature type {}, only {} is read", file.name(), signature_type,
         kSignatureHeaderType);
  }

  const Header signature(file, kLeadSize, "signature header");
  const std::uint64_t main_offset = (signature.end() + 7) / 8 * 8;
  const Header main(file, main_offset, "main header");

  RpmHeader header;
  header.name = required_string(main, kName, "Name", file);
  header.version = required_string(main, kVersion, "Version", file);
  header.release = required_string(main, kRelease, "Release", file);
  header.arch = required_string(main, kArch, "Arch", file);
  if (const auto epoch = main.int32s(kEpoch); !epoch.empty()) header.epoch = epoch.front();
  if (const auto time = main.int32s(kBuildTime); !time.empty()) header.build_time = time.front();
  header.provides = relations(main, kProvideName, kProvideFlags, kProvideVersion, "Provides", file);
  header.requires_ = relations(main, kRequireName, kRequireFlags, kRequireVersion, "Requires", file);
  // As rpm's headerIsSource: a binary package names the source package it was built from.
  header.source_package = !main.has(kSourceRpm);
  // Both tags are optional; rpm's defaults are cpio and gzip.
  const std::string format = main.string(kPayloadFormat).value_or("cpio");
  if (format != "cpio") {
    fail(ErrorKind::integrity, "{}: payload format '{}', only cpio is read", file.name(), format);
  }
  header.payload_compressor = main.string(kPayloadCompressor).value_or("gzip");
  header.payload_offset = main.end();
  if (header.payload_offset >= file.size()) {
    fail(ErrorKind::integrity, "{}: truncated RPM package: nothing after its headers", file.name());
  }
  return header;
}

}  // namespace ckms::images
