#include "ckms/builder/build_source.hpp"

#include "ckms/artifact/source_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/reference.hpp"

namespace ckms::builder {
namespace fs = std::filesystem;

bool looks_like_reference(std::string_view text) {
  if (text.starts_with("oci:")) return true;
  const auto first = text.substr(0, text.find('/'));
  return text.find('/') != std::string_view::npos &&
         (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
          first == "localhost");
}

namespace {

// What a file type is called in a message, for the types a source tree cannot hold.
const char* special_file_kind(fs::file_type type) {
  switch (type) {
    case fs::file_type::fifo: return "FIFO";
    case fs::file_type::socket: return "socket";
    case fs::file_type::block:
    case fs::file_type::character: return "device node";
    default: return nullptr;
  }
}

// A source is files, directories and symlinks. Anything else would fail its copy into the
// build tree as an internal error, after the output was made, or block a reader (a FIFO):
// refused before anything is written, naming the path.
void check_source_tree(const fs::path& root) {
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    if (const char* kind = special_file_kind(it->symlink_status().type())) {
      fail(ErrorKind::usage,
           "{}: a {} in the module source; a source holds only files, directories and symlinks: remove it",
           it->path().string(), kind);
    }
  }
}

}  // namespace

void place_source(std::string_view source, const fs::path& work_dir, BuildOptions& options,
                  const std::function<void(const oci::Reference&)>& on_fetch) {
  if (fs::is_directory(source)) {
    options.source_dir = fs::absolute(source);
    check_source_tree(options.source_dir);
    return;
  }
  if (!looks_like_reference(source)) {
    fail(ErrorKind::not_found, "{}: no such directory (a source artifact is named REGISTRY/REPO:TAG or oci:DIR:TAG)",
         source);
  }
  const auto reference = oci::Reference::parse(source);
  const auto source_target = options.open_target(reference);
  if (on_fetch) on_fetch(reference);
  options.source_dir = work_dir / "source";
  options.source_digest =
      artifact::fetch_source(*source_target, oci::selector_of(reference), options.source_dir).layer_digest;
  check_source_tree(options.source_dir);
}

}  // namespace ckms::builder
