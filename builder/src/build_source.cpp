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

void place_source(std::string_view source, const fs::path& work_dir, BuildOptions& options,
                  const std::function<void(const oci::Reference&)>& on_fetch) {
  if (fs::is_directory(source)) {
    options.source_dir = fs::absolute(source);
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
}

}  // namespace ckms::builder
