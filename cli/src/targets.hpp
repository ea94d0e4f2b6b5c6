#pragma once
// Turns a parsed Reference into the Target it names, with the registry options the user gave.

#include <memory>
#include <optional>
#include <string>

#include "ckms/oci/reference.hpp"
#include "ckms/oci/target.hpp"
#include "registry_flags.hpp"

namespace ckms::cli {

// `create_layout`: a layout destination is created when missing; sources must exist.
std::unique_ptr<oci::Target> open_target(const oci::Reference& reference, const RegistryFlags& flags,
                                         bool create_layout);

}  // namespace ckms::cli
