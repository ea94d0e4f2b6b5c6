#include "ckms/images/resolve.hpp"

#include "ckms/base/error.hpp"
#include "ckms/oci/reference.hpp"

namespace ckms::images {

std::string image_reference(std::string_view reference_template, std::string_view release) {
  if (release.empty()) fail(ErrorKind::usage, "empty kernel release");
  const std::size_t at = reference_template.find(kReleasePlaceholder);
  if (at == std::string_view::npos) {
    fail(ErrorKind::usage, "image template '{}' has no {} placeholder", reference_template, kReleasePlaceholder);
  }
  std::string reference(reference_template);
  const std::string tag = oci::sanitize_tag(release);
  // Every occurrence, so that a template may also name the release in the repository path.
  for (std::size_t pos = at; pos != std::string::npos; pos = reference.find(kReleasePlaceholder, pos + tag.size())) {
    reference.replace(pos, kReleasePlaceholder.size(), tag);
  }
  try {
    oci::Reference::parse(reference);  // validation only: the caller gets the text as written
  } catch (const Error& e) {
    fail(ErrorKind::usage, "image template '{}' for kernel {} gives no valid reference: {}", reference_template,
         release, e.what());
  }
  return reference;
}

}  // namespace ckms::images
