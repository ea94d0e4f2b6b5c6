#include "targets.hpp"

#include "ckms/base/error.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/registry.hpp"

namespace ckms::cli {

std::unique_ptr<oci::Target> open_target(const oci::Reference& reference, const RegistryFlags& flags,
                                         bool create_layout) {
  if (reference.is_layout()) {
    return std::make_unique<oci::Layout>(reference.layout().directory, create_layout
                                                                           ? oci::Layout::Mode::create_if_missing
                                                                           : oci::Layout::Mode::open_existing);
  }
  return oci::open_registry(reference.registry(), registry_options(flags));
}

}  // namespace ckms::cli
