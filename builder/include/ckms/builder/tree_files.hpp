#pragma once
// Reading files that untrusted content placed: the unpacked build image (its .config) and
// the output a build left in /out. The host resolves their paths the way the container
// would, or not at all, so a symlink in an image or a build's output can never make the
// host read one of its own files (/etc/shadow, a signing key) and publish it.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace ckms::builder {

// Reads `path` (absolute, as seen inside the container) from the tree at `root`, with every
// symlink resolved as if `root` were `/` (openat2 RESOLVE_IN_ROOT; where the kernel lacks
// openat2, any symlink on the way is refused). Must be a regular file of at most `limit`
// bytes. nullopt when it does not exist; errors name `what`.
std::optional<std::string> read_file_in_root(const std::filesystem::path& root, std::string_view path,
                                             std::size_t limit, std::string_view what);

// Reads `name` (a plain file name) in `dir` without following a symlink: a regular file of
// at most `limit` bytes, or nullopt when it is missing. A symlink, a directory, a device,
// a FIFO or a larger file is refused with an error naming `what`.
std::optional<std::string> read_plain_file(const std::filesystem::path& dir, std::string_view name, std::size_t limit,
                                           std::string_view what);

}  // namespace ckms::builder
