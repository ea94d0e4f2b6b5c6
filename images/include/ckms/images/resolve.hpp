#pragma once
// The build image reference of a kernel: a template such as
// "registry.example/ckms/kernel-build:{release}" (or "oci:DIR:{release}") with the release
// put in. Kernel releases may hold characters a tag cannot ('+', '~'); those become '_'
// (oci::sanitize_tag), the same rule everywhere so that builder, operator and this agree.

#include <string>
#include <string_view>

namespace ckms::images {

inline constexpr std::string_view kReleasePlaceholder = "{release}";

// Throws a usage error when the template lacks {release} or the result is not a reference.
std::string image_reference(std::string_view reference_template, std::string_view release);

}  // namespace ckms::images
