#pragma once
// Streaming byte I/O with constant memory. Every content path in ckms is a pull from a
// Reader into a sink, so a 1 GiB blob costs one buffer, not 1 GiB.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <utility>

#include <sys/types.h>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ckms/base/digest.hpp"

namespace ckms {

inline constexpr std::size_t kCopyBufferSize = 1 << 17;

class Reader {
 public:
  virtual ~Reader() = default;
  // Reads up to buffer.size() bytes; returns 0 only at the end of the content.
  virtual std::size_t read(std::span<std::byte> buffer) = 0;
};

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

class FileReader final : public Reader {
 public:
  explicit FileReader(const std::filesystem::path& file);
  std::size_t read(std::span<std::byte> buffer) override;
  std::uint64_t size() const noexcept { return size_; }

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
  std::uint64_t size_ = 0;
};

class StringReader final : public Reader {
 public:
  explicit StringReader(std::string content) : content_(std::move(content)) {}
  std::size_t read(std::span<std::byte> buffer) override;

 private:
  std::string content_;
  std::size_t offset_ = 0;
};

// Reads all content, refusing more than `limit` bytes (manifests, configs, tokens).
std::string read_all(Reader& reader, std::size_t limit, std::string_view what);
std::string read_file(const std::filesystem::path& file, std::size_t limit);

using ProgressFn = std::function<void(std::uint64_t bytes)>;

// Copies everything from reader to an fd; returns the byte count.
std::uint64_t copy_to_fd(Reader& reader, int fd, std::string_view what, const ProgressFn& progress = {});

void write_all(int fd, std::span<const std::byte> bytes, std::string_view what);

// A file that appears at `target` only when commit() is called: content goes to a temp file
// in the same directory, hashed on the way, and commit() verifies, fsyncs and renames it.
// Destroyed without commit, it removes the temp file: no partial file is ever visible.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target, DigestAlgorithm algorithm = DigestAlgorithm::sha256);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::span<const std::byte> bytes);
  void write(std::string_view bytes) { write(std::as_bytes(std::span(bytes))); }
  std::uint64_t write_from(Reader& reader, const ProgressFn& progress = {});
  std::uint64_t size() const noexcept { return hasher_.bytes_seen(); }
  int fd() const noexcept { return fd_.get(); }

  // Fails with an integrity error (and keeps nothing) when the content does not match.
  Digest commit(const std::optional<Digest>& expected = std::nullopt,
                std::optional<std::int64_t> expected_size = std::nullopt, mode_t mode = 0644);

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  UniqueFd fd_;
  Hasher hasher_;
  bool committed_ = false;
};

void fsync_directory(const std::filesystem::path& dir);

// A directory a privileged process keeps its own files in (a cache, a state dir), where a
// file planted by someone else could be taken for its own or a symlink make it write
// elsewhere. Created with `mode` whatever the umask; an existing one is refused (refused,
// naming `what` and the fix) when it is a symlink, not owned by root or this user, or
// writable by group or others.
void ensure_private_directory(const std::filesystem::path& dir, mode_t mode, std::string_view what);

}  // namespace ckms
