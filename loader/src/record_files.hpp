#pragma once
// The JSON record files of the state store and of the install records: one document per
// file, written by atomic rename, read back by `Record::from_json`.

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/loader/state.hpp"

namespace ckms::loader::detail {

// Records are small; a bigger file is not one.
inline constexpr std::size_t kMaxRecordBytes = 1 << 20;

template <class Record>
Record read_record(const std::filesystem::path& file) {
  const auto j = nlohmann::json::parse(ckms::read_file(file, kMaxRecordBytes), nullptr, false);
  if (j.is_discarded()) fail(ErrorKind::integrity, "{}: not JSON", file.string());
  return Record::from_json(j, file.string());
}

template <class Record>
std::optional<Record> find_record(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::nullopt;
  return read_record<Record>(file);
}

// Every record of `directory` (none when it does not exist); temp files are hidden ones.
template <class Record>
std::vector<Record> read_records(const std::filesystem::path& directory) {
  std::vector<Record> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ec)) {
    const std::filesystem::path& file = entry.path();
    if (file.extension() != ".json" || file.filename().string().starts_with(".")) continue;
    out.push_back(read_record<Record>(file));
  }
  return out;
}

inline void write_record(const std::filesystem::path& file, const nlohmann::json& document) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) fail(ErrorKind::io, "cannot create {}: {}", file.parent_path().string(), ec.message());
  ckms::AtomicFile out(file);
  out.write(document.dump(2) + "\n");
  out.commit();
}

// An exclusive flock on `file` (created 0600, never through a symlink), until the lock goes.
inline StateLock lock_records(const std::filesystem::path& file) {
  ckms::UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) fail_errno("cannot open " + file.string());
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) fail_errno("cannot lock " + file.string());
  }
  return StateLock(std::move(fd));
}

inline void erase_record(const std::filesystem::path& file) {
  std::error_code ec;
  std::filesystem::remove(file, ec);
  if (ec) fail(ErrorKind::io, "cannot remove {}: {}", file.string(), ec.message());
  ckms::fsync_directory(file.parent_path());
}

}  // namespace ckms::loader::detail
