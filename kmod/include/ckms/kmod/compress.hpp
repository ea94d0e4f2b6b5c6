#pragma once
// Module compression as the kernel's Makefile.modinst does it (xz with a CRC32 check and a
// 1 MiB dictionary, zstd at its default level). Decompression always takes a size limit,
// because a module from a registry is untrusted until its signature has been checked.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "ckms/base/io.hpp"

namespace ckms::kmod {

enum class Compression { none, xz, zstd };

std::string_view to_string(Compression compression);

// The file suffix the kernel uses: "", ".xz", ".zst".
std::string_view suffix(Compression compression);

// By magic bytes (xz: FD 37 7A 58 5A 00, zstd: 28 B5 2F FD); anything else is `none`.
Compression detect_compression(std::string_view head);

// By file name (".ko.xz", ".ko.zst"); for choosing an output format, never for trusting input.
Compression compression_from_name(const std::filesystem::path& file);

// Receives output in pieces; it may throw to stop the stream.
using ByteSink = std::function<void(std::span<const std::byte>)>;

// Default decompression bound: far above any real module (the largest in-tree modules are a
// few tens of MiB), far below what would hurt a node.
inline constexpr std::uint64_t kDefaultDecompressLimit = std::uint64_t{512} << 20;

// Streams `in` through the compressor into `out`; returns the compressed byte count.
// `what` names the content in errors.
std::uint64_t compress(ckms::Reader& in, Compression format, const ByteSink& out, std::string_view what);

// Streams `in` through the decompressor into `out`; returns the decompressed byte count.
// Fails with an integrity error on corrupt or truncated input and with a refused error as
// soon as the output would exceed `limit`.
std::uint64_t decompress(ckms::Reader& in, Compression format, const ByteSink& out, std::uint64_t limit,
                         std::string_view what);

std::string compress(std::string_view bytes, Compression format, std::string_view what);
std::string decompress(std::string_view bytes, Compression format, std::uint64_t limit, std::string_view what);

// Decompresses when the magic says so, otherwise returns the bytes unchanged.
std::string decompress_auto(std::string bytes, std::uint64_t limit, std::string_view what);

}  // namespace ckms::kmod
