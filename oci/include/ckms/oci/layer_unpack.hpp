#pragma once
// Applying one layer (a tar stream, gzip- or zstd-compressed or not) onto a directory, with
// OCI whiteouts, streaming from a Reader in constant memory. Everything is written beneath the
// target (see layer_path.hpp); what the process may not do is skipped and noted
// (layer_rootless.hpp); what exceeds a limit stops the apply before it is written.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ckms/base/io.hpp"
#include "ckms/oci/layer_path.hpp"

namespace ckms::oci {

// Defaults fit a full toolchain image (hundreds of MB, files up to ~100 MB) with a wide margin.
struct UnpackLimits {
  std::uint64_t max_total_bytes = std::uint64_t{16} << 30;  // sum of declared file sizes
  std::uint64_t max_file_bytes = std::uint64_t{4} << 30;    // one file's declared size
  std::uint64_t max_entries = 1'000'000;
  std::size_t max_path_length = 4096;
};

struct UnpackOptions {
  std::string layer_name = "layer";  // named in every error and note, e.g. the blob digest
  UnpackLimits limits;
  bool xattrs = true;  // applied where the kernel allows; refusals are noted
  // Setuid/setgid bits and file capabilities (security.capability) are dropped unless asked
  // for: a tree unpacked as root for a sandbox (which runs with NoNewPrivs and never needs
  // them) would otherwise hold root-owned setuid binaries that any local user could run.
  bool privileged_bits = false;
  ResolveStrategy resolve = ResolveStrategy::automatic;
};

struct UnpackResult {
  std::uint64_t entries = 0;
  std::uint64_t file_bytes = 0;
  std::vector<std::string> notes;  // what was skipped: device nodes, ownership, setuid bits
};

// Applies `layer` onto `target` (which must exist). Throws a refused error naming the layer
// and the entry for anything that would leave the target or exceed a limit; on any error the
// target holds the entries before the failing one and no partly written file under its final
// name. The reader is read to its end, so a VerifyingReader checks the whole blob.
UnpackResult apply_layer(Reader& layer, const std::filesystem::path& target, const UnpackOptions& options = {});

}  // namespace ckms::oci
