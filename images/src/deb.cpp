#include "ckms/images/deb.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <functional>
#include <memory>
#include <vector>

#include "ckms/base/error.hpp"
#include "ckms/images/decompress.hpp"

namespace ckms::images {
namespace fs = std::filesystem;

namespace {

// The bytes of the current member of an open archive, as a Reader.
class MemberReader final : public ckms::Reader {
 public:
  MemberReader(struct archive* archive, std::string what) : archive_(archive), what_(std::move(what)) {}
  std::size_t read(std::span<std::byte> buffer) override {
    const la_ssize_t n = archive_read_data(archive_, buffer.data(), buffer.size());
    if (n < 0) fail(ErrorKind::integrity, "{}: {}", what_, archive_error_string(archive_));
    return static_cast<std::size_t>(n);
  }

 private:
  struct archive* archive_;
  std::string what_;
};

using ArchivePtr = std::unique_ptr<struct archive, decltype(&archive_read_free)>;

ArchivePtr open_ar(const fs::path& deb) {
  ArchivePtr archive(archive_read_new(), &archive_read_free);
  if (!archive) fail(ErrorKind::internal, "{}: cannot allocate an ar reader", deb.string());
  archive_read_support_format_ar(archive.get());
  if (archive_read_open_filename(archive.get(), deb.c_str(), 1 << 16) != ARCHIVE_OK) {
    const bool missing = !fs::exists(deb);
    fail(missing ? ErrorKind::not_found : ErrorKind::integrity, "{}: not a Debian package: {}", deb.string(),
         archive_error_string(archive.get()));
  }
  return archive;
}

// Calls `visit` on the member whose name starts with `prefix` (e.g. "data.tar"); the
// member's mtime is passed along. Fails naming the package when there is none.
void with_member(const fs::path& deb, std::string_view prefix,
                 const std::function<void(ckms::Reader&, std::int64_t mtime)>& visit) {
  auto archive = open_ar(deb);
  archive_entry* entry = nullptr;
  int status = ARCHIVE_OK;
  while ((status = archive_read_next_header(archive.get(), &entry)) == ARCHIVE_OK) {
    const char* raw_name = archive_entry_pathname(entry);
    const std::string_view name = raw_name != nullptr ? raw_name : "";
    if (!name.starts_with(prefix)) continue;
    MemberReader member(archive.get(), fmt::format("{}: {}", deb.string(), name));
    visit(member, archive_entry_mtime(entry));
    return;
  }
  if (status != ARCHIVE_EOF) {
    fail(ErrorKind::integrity, "{}: corrupt Debian package: {}", deb.string(), archive_error_string(archive.get()));
  }
  fail(ErrorKind::integrity, "{}: Debian package without a {}.* member", deb.string(), prefix);
}

// The "./control" file of a control.tar stream (already decompressed).
std::string control_text(ckms::Reader& tar, const fs::path& deb) {
  ArchivePtr archive(archive_read_new(), &archive_read_free);
  archive_read_support_format_tar(archive.get());
  struct Source {
    ckms::Reader& reader;
    std::vector<std::byte> buffer = std::vector<std::byte>(ckms::kCopyBufferSize);
  } source{tar};
  auto callback = [](struct archive*, void* self, const void** block) -> la_ssize_t {
    auto* s = static_cast<Source*>(self);
    const std::size_t n = s->reader.read(s->buffer);
    *block = s->buffer.data();
    return static_cast<la_ssize_t>(n);
  };
  if (archive_read_open(archive.get(), &source, nullptr, callback, nullptr) != ARCHIVE_OK) {
    fail(ErrorKind::integrity, "{}: control.tar is not a tar archive", deb.string());
  }
  archive_entry* entry = nullptr;
  while (archive_read_next_header(archive.get(), &entry) == ARCHIVE_OK) {
    const char* raw_name = archive_entry_pathname(entry);
    const std::string_view name = raw_name != nullptr ? raw_name : "";
    if (name != "./control" && name != "control") continue;
    MemberReader member(archive.get(), fmt::format("{}: control", deb.string()));
    return ckms::read_all(member, 1 << 20, fmt::format("{}: control", deb.string()));
  }
  fail(ErrorKind::integrity, "{}: control.tar holds no control file", deb.string());
}

}  // namespace

std::string DebControl::field(std::string_view name) const {
  const auto it = fields.find(std::string(name));
  return it == fields.end() ? std::string() : it->second;
}

std::map<std::string, std::string> parse_control_fields(std::string_view text, std::string_view where) {
  std::map<std::string, std::string> fields;
  std::string* last = nullptr;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    if (line.empty()) break;  // one paragraph: a binary package's control file has only one
    if (line.front() == ' ' || line.front() == '\t') {
      if (last == nullptr) fail(ErrorKind::integrity, "{}: line {}: continuation without a field", where, line_number);
      *last += '\n';
      *last += line.substr(1);
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      fail(ErrorKind::integrity, "{}: line {}: not a 'Field: value' line", where, line_number);
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    last = &(fields[std::string(line.substr(0, colon))] = std::string(value));
  }
  return fields;
}

DebControl read_deb_control(const fs::path& deb) {
  DebControl control;
  with_member(deb, "control.tar", [&](ckms::Reader& member, std::int64_t) {
    auto tar = decompressing(member, fmt::format("{}: control.tar", deb.string()));
    control.fields = parse_control_fields(control_text(*tar, deb), deb.string());
  });
  with_member(deb, "data.tar", [&](ckms::Reader&, std::int64_t mtime) { control.build_time = mtime; });
  if (control.package().empty()) fail(ErrorKind::integrity, "{}: control file has no Package field", deb.string());
  return control;
}

oci::UnpackResult unpack_deb(const fs::path& deb, const fs::path& target) {
  oci::UnpackResult result;
  with_member(deb, "data.tar", [&](ckms::Reader& member, std::int64_t) {
    auto tar = decompressing(member, fmt::format("{}: data.tar", deb.string()));
    oci::UnpackOptions options;
    options.layer_name = deb.filename().string();
    options.xattrs = false;  // dpkg does not carry extended attributes either
    result = oci::apply_layer(*tar, target, options);
  });
  return result;
}

}  // namespace ckms::images
