#include "ckms/base/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "ckms/base/error.hpp"

namespace ckms {

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

FileReader::FileReader(const std::filesystem::path& file) : path_(file) {
  fd_ = UniqueFd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_) {
    if (errno == ENOENT) fail(ErrorKind::not_found, "{}: no such file", file.string());
    fail_errno("cannot open " + file.string());
  }
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) fail_errno("cannot stat " + file.string());
  size_ = static_cast<std::uint64_t>(st.st_size);
}

std::size_t FileReader::read(std::span<std::byte> buffer) {
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buffer.data(), buffer.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) fail_errno("cannot read " + path_.string());
  }
}

std::size_t StringReader::read(std::span<std::byte> buffer) {
  const std::size_t n = std::min(buffer.size(), content_.size() - offset_);
  std::memcpy(buffer.data(), content_.data() + offset_, n);
  offset_ += n;
  return n;
}

std::string read_all(Reader& reader, std::size_t limit, std::string_view what) {
  std::string out;
  std::vector<std::byte> buffer(1 << 14);
  while (std::size_t n = reader.read(buffer)) {
    if (out.size() + n > limit) {
      fail(ErrorKind::refused, "{}: larger than the {} bytes allowed", what, limit);
    }
    out.append(reinterpret_cast<const char*>(buffer.data()), n);
  }
  return out;
}

std::string read_file(const std::filesystem::path& file, std::size_t limit) {
  FileReader reader(file);
  return read_all(reader, limit, file.string());
}

void write_all(int fd, std::span<const std::byte> bytes, std::string_view what) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno(fmt::format("cannot write {}", what));
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

std::uint64_t copy_to_fd(Reader& reader, int fd, std::string_view what, const ProgressFn& progress) {
  std::vector<std::byte> buffer(kCopyBufferSize);
  std::uint64_t total = 0;
  while (std::size_t n = reader.read(buffer)) {
    write_all(fd, std::span<const std::byte>(buffer.data(), n), what);
    total += n;
    if (progress) progress(total);
  }
  return total;
}

AtomicFile::AtomicFile(std::filesystem::path target, DigestAlgorithm algorithm)
    : target_(std::move(target)), hasher_(algorithm) {
  std::string pattern = (target_.parent_path() / ("." + target_.filename().string() + ".XXXXXX")).string();
  fd_ = UniqueFd(::mkostemp(pattern.data(), O_CLOEXEC));
  if (!fd_) fail_errno("cannot create a temporary file beside " + target_.string());
  temp_ = pattern;
}

AtomicFile::~AtomicFile() {
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::write(std::span<const std::byte> bytes) {
  hasher_.update(bytes);
  write_all(fd_.get(), bytes, temp_.string());
}

std::uint64_t AtomicFile::write_from(Reader& reader, const ProgressFn& progress) {
  std::vector<std::byte> buffer(kCopyBufferSize);
  const std::uint64_t start = size();
  while (std::size_t n = reader.read(buffer)) {
    write(std::span<const std::byte>(buffer.data(), n));
    if (progress) progress(size() - start);
  }
  return size() - start;
}

Digest AtomicFile::commit(const std::optional<Digest>& expected, std::optional<std::int64_t> expected_size,
                          mode_t mode) {
  if (expected_size && static_cast<std::int64_t>(size()) != *expected_size) {
    fail(ErrorKind::integrity, "{}: got {} bytes, expected {}", target_.string(), size(), *expected_size);
  }
  Digest actual = hasher_.finish();
  if (expected && actual != *expected) {
    fail(ErrorKind::integrity, "{}: content has digest {}, expected {}", target_.string(), actual.str(),
         expected->str());
  }
  if (::fchmod(fd_.get(), mode) != 0) fail_errno("cannot chmod " + temp_.string());
  if (::fsync(fd_.get()) != 0) fail_errno("cannot fsync " + temp_.string());
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    fail_errno("cannot rename " + temp_.string() + " to " + target_.string());
  }
  committed_ = true;
  fsync_directory(target_.parent_path());
  return actual;
}

void fsync_directory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd) ::fsync(fd.get());
}

void ensure_private_directory(const std::filesystem::path& dir, mode_t mode, std::string_view what) {
  std::error_code ec;
  std::filesystem::create_directories(dir.parent_path(), ec);
  if (ec)
    fail(ErrorKind::io, "{} {}: cannot create {}: {}", what, dir.string(), dir.parent_path().string(), ec.message());
  const bool created = ::mkdir(dir.c_str(), 0700) == 0;
  if (!created && errno != EEXIST) fail_errno(fmt::format("{} {}: cannot create it", what, dir.string()));
  const UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ELOOP || errno == ENOTDIR) {
      fail(ErrorKind::refused, "{} {}: not a directory (a symlink is never followed); remove it", what, dir.string());
    }
    fail_errno(fmt::format("{} {}: cannot open it", what, dir.string()));
  }
  if (created) {
    if (::fchmod(fd.get(), mode) != 0) fail_errno(fmt::format("{} {}: cannot chmod", what, dir.string()));
    return;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail_errno(fmt::format("{} {}: cannot stat it", what, dir.string()));
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    fail(ErrorKind::refused,
         "{} {}: owned by uid {}, neither root nor this user; remove it or choose another directory", what,
         dir.string(), st.st_uid);
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    fail(ErrorKind::refused, "{} {}: writable by group or others (mode {:04o}); chmod go-w it or remove it", what,
         dir.string(), st.st_mode & 07777);
  }
}

}  // namespace ckms
