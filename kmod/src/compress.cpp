#include "ckms/kmod/compress.hpp"

#include <lzma.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <vector>

#include "ckms/base/error.hpp"

namespace ckms::kmod {
namespace {

constexpr std::string_view kXzMagic("\xFD\x37\x7A\x58\x5A\x00", 6);
constexpr std::string_view kZstdMagic("\x28\xB5\x2F\xFD", 4);

// Memory a hostile xz header may make the decoder allocate; the kernel's 1 MiB dictionary
// needs a few MiB, xz -9 about 65 MiB.
constexpr std::uint64_t kXzMemoryLimit = std::uint64_t{256} << 20;

std::span<const std::byte> bytes_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}

// Counts output and refuses it past the limit before it reaches the sink.
class BoundedSink {
 public:
  BoundedSink(const ByteSink& sink, std::uint64_t limit, std::string_view what)
      : sink_(sink), limit_(limit), what_(what) {}
  void operator()(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return;
    if (size > limit_ - total_) {
      fail(ErrorKind::refused, "{}: decompresses to more than the {} bytes allowed", what_, limit_);
    }
    total_ += size;
    sink_(bytes_of(data, size));
  }
  std::uint64_t total() const { return total_; }

 private:
  const ByteSink& sink_;
  std::uint64_t limit_;
  std::string_view what_;
  std::uint64_t total_ = 0;
};

std::string_view lzma_message(lzma_ret ret) {
  switch (ret) {
    case LZMA_MEM_ERROR: return "out of memory";
    case LZMA_MEMLIMIT_ERROR: return "needs more memory than allowed";
    case LZMA_FORMAT_ERROR: return "not in xz format";
    case LZMA_OPTIONS_ERROR: return "unsupported xz options";
    case LZMA_DATA_ERROR: return "corrupt xz data";
    case LZMA_BUF_ERROR: return "truncated xz data";
    default: return "xz error";
  }
}

struct LzmaStream {
  lzma_stream strm = LZMA_STREAM_INIT;
  ~LzmaStream() { lzma_end(&strm); }
};

// Drives an lzma_stream from a Reader to a sink; shared by the encoder and the decoder.
template <typename Emit>
void run_lzma(lzma_stream& strm, ckms::Reader& in, Emit&& emit, std::string_view what, ErrorKind data_error) {
  std::vector<std::byte> inbuf(ckms::kCopyBufferSize);
  std::vector<std::uint8_t> outbuf(ckms::kCopyBufferSize);
  lzma_action action = LZMA_RUN;
  for (;;) {
    if (strm.avail_in == 0 && action == LZMA_RUN) {
      const std::size_t n = in.read(inbuf);
      strm.next_in = reinterpret_cast<const std::uint8_t*>(inbuf.data());
      strm.avail_in = n;
      if (n == 0) action = LZMA_FINISH;
    }
    strm.next_out = outbuf.data();
    strm.avail_out = outbuf.size();
    const lzma_ret ret = lzma_code(&strm, action);
    emit(outbuf.data(), outbuf.size() - strm.avail_out);
    if (ret == LZMA_STREAM_END) return;
    if (ret != LZMA_OK) fail(data_error, "{}: {}", what, lzma_message(ret));
  }
}

std::uint64_t xz_compress(ckms::Reader& in, const ByteSink& out, std::string_view what) {
  lzma_options_lzma options{};
  if (lzma_lzma_preset(&options, LZMA_PRESET_DEFAULT)) {
    fail(ErrorKind::internal, "{}: liblzma has no default preset", what);
  }
  options.dict_size = 1U << 20;  // --lzma2=dict=1MiB, as scripts/Makefile.modinst
  const std::array<lzma_filter, 2> filters{{{LZMA_FILTER_LZMA2, &options}, {LZMA_VLI_UNKNOWN, nullptr}}};
  LzmaStream s;
  const lzma_ret ret = lzma_stream_encoder(&s.strm, filters.data(), LZMA_CHECK_CRC32);
  if (ret != LZMA_OK) fail(ErrorKind::internal, "{}: {}", what, lzma_message(ret));
  std::uint64_t total = 0;
  run_lzma(
      s.strm, in,
      [&](const std::uint8_t* data, std::size_t size) {
        if (size == 0) return;
        total += size;
        out(bytes_of(data, size));
      },
      what, ErrorKind::internal);
  return total;
}

std::uint64_t xz_decompress(ckms::Reader& in, const ByteSink& out, std::uint64_t limit, std::string_view what) {
  LzmaStream s;
  // Concatenated streams and stream padding are valid .xz, as for `xz -d`.
  const lzma_ret ret = lzma_stream_decoder(&s.strm, kXzMemoryLimit, LZMA_CONCATENATED);
  if (ret != LZMA_OK) fail(ErrorKind::internal, "{}: {}", what, lzma_message(ret));
  BoundedSink sink(out, limit, what);
  run_lzma(s.strm, in, sink, what, ErrorKind::integrity);
  return sink.total();
}

struct ZstdCctxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct ZstdDctxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

std::uint64_t zstd_compress(ckms::Reader& in, const ByteSink& out, std::string_view what) {
  std::unique_ptr<ZSTD_CCtx, ZstdCctxFree> cctx(ZSTD_createCCtx());
  if (!cctx) fail(ErrorKind::internal, "{}: cannot create a zstd context", what);
  // The zstd command's defaults, which the kernel's Makefile uses: level 3 with a checksum.
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, ZSTD_CLEVEL_DEFAULT);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
  std::vector<std::byte> inbuf(ckms::kCopyBufferSize);
  std::vector<std::uint8_t> outbuf(ZSTD_CStreamOutSize());
  std::uint64_t total = 0;
  bool last = false;
  while (!last) {
    const std::size_t n = in.read(inbuf);
    last = n == 0;
    ZSTD_inBuffer input{inbuf.data(), n, 0};
    const ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
      ZSTD_outBuffer output{outbuf.data(), outbuf.size(), 0};
      const std::size_t remaining = ZSTD_compressStream2(cctx.get(), &output, &input, mode);
      if (ZSTD_isError(remaining)) {
        fail(ErrorKind::internal, "{}: zstd: {}", what, ZSTD_getErrorName(remaining));
      }
      if (output.pos > 0) out(bytes_of(outbuf.data(), output.pos));
      total += output.pos;
      if (last ? remaining == 0 : input.pos == input.size) break;
    }
  }
  return total;
}

std::uint64_t zstd_decompress(ckms::Reader& in, const ByteSink& out, std::uint64_t limit, std::string_view what) {
  std::unique_ptr<ZSTD_DCtx, ZstdDctxFree> dctx(ZSTD_createDCtx());
  if (!dctx) fail(ErrorKind::internal, "{}: cannot create a zstd context", what);
  std::vector<std::byte> inbuf(ckms::kCopyBufferSize);
  std::vector<std::uint8_t> outbuf(ZSTD_DStreamOutSize());
  BoundedSink sink(out, limit, what);
  std::size_t pending = 0;  // 0 once a frame is complete
  bool seen_input = false;
  while (std::size_t n = in.read(inbuf)) {
    seen_input = true;
    ZSTD_inBuffer input{inbuf.data(), n, 0};
    while (input.pos < input.size || pending > 0) {
      ZSTD_outBuffer output{outbuf.data(), outbuf.size(), 0};
      pending = ZSTD_decompressStream(dctx.get(), &output, &input);
      if (ZSTD_isError(pending)) {
        fail(ErrorKind::integrity, "{}: corrupt zstd data: {}", what, ZSTD_getErrorName(pending));
      }
      sink(outbuf.data(), output.pos);
      // Input consumed and the output buffer not full: the decoder needs more input.
      if (input.pos == input.size && output.pos < output.size) break;
    }
  }
  if (!seen_input || pending != 0) fail(ErrorKind::integrity, "{}: truncated zstd data", what);
  return sink.total();
}

}  // namespace

std::string_view to_string(Compression compression) {
  switch (compression) {
    case Compression::xz: return "xz";
    case Compression::zstd: return "zstd";
    case Compression::none: break;
  }
  return "none";
}

std::string_view suffix(Compression compression) {
  switch (compression) {
    case Compression::xz: return ".xz";
    case Compression::zstd: return ".zst";
    case Compression::none: break;
  }
  return "";
}

Compression detect_compression(std::string_view head) {
  if (head.starts_with(kXzMagic)) return Compression::xz;
  if (head.starts_with(kZstdMagic)) return Compression::zstd;
  return Compression::none;
}

Compression compression_from_name(const std::filesystem::path& file) {
  const std::string ext = file.extension().string();
  if (ext == ".xz") return Compression::xz;
  if (ext == ".zst") return Compression::zstd;
  return Compression::none;
}

std::uint64_t compress(ckms::Reader& in, Compression format, const ByteSink& out, std::string_view what) {
  switch (format) {
    case Compression::xz: return xz_compress(in, out, what);
    case Compression::zstd: return zstd_compress(in, out, what);
    case Compression::none: break;
  }
  fail(ErrorKind::usage, "{}: no compression format chosen", what);
}

std::uint64_t decompress(ckms::Reader& in, Compression format, const ByteSink& out, std::uint64_t limit,
                         std::string_view what) {
  switch (format) {
    case Compression::xz: return xz_decompress(in, out, limit, what);
    case Compression::zstd: return zstd_decompress(in, out, limit, what);
    case Compression::none: break;
  }
  fail(ErrorKind::usage, "{}: no compression format chosen", what);
}

namespace {

// Reads from caller-owned bytes without copying them.
class ViewReader final : public ckms::Reader {
 public:
  explicit ViewReader(std::string_view bytes) : bytes_(bytes) {}
  std::size_t read(std::span<std::byte> buffer) override {
    const std::size_t n = std::min(buffer.size(), bytes_.size());
    std::memcpy(buffer.data(), bytes_.data(), n);
    bytes_.remove_prefix(n);
    return n;
  }

 private:
  std::string_view bytes_;
};

ByteSink append_to(std::string& target) {
  return [&target](std::span<const std::byte> piece) {
    target.append(reinterpret_cast<const char*>(piece.data()), piece.size());
  };
}
}  // namespace

std::string compress(std::string_view bytes, Compression format, std::string_view what) {
  ViewReader in(bytes);
  std::string out;
  compress(in, format, append_to(out), what);
  return out;
}

std::string decompress(std::string_view bytes, Compression format, std::uint64_t limit, std::string_view what) {
  ViewReader in(bytes);
  std::string out;
  decompress(in, format, append_to(out), limit, what);
  return out;
}

std::string decompress_auto(std::string bytes, std::uint64_t limit, std::string_view what) {
  const Compression format = detect_compression(bytes);
  if (format == Compression::none) return bytes;
  return decompress(bytes, format, limit, what);
}

}  // namespace ckms::kmod
