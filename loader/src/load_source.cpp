// Opening what a load names: a registry repository or a layout. Kept out of load.cpp so that
// `ckms`'s node binary, which loads from its cache alone, links no registry client.

#include "ckms/loader/load.hpp"
#include "ckms/oci/layout.hpp"

namespace ckms::loader {

std::unique_ptr<oci::Target> open_source(const LoadRequest& request) {
  if (request.network == NetworkMode::offline) return nullptr;
  if (request.reference.is_layout()) {
    return std::make_unique<oci::Layout>(request.reference.layout().directory, oci::Layout::Mode::open_existing);
  }
  return oci::open_registry(request.reference.registry(), request.registry);
}

LoadReport load(const LoadRequest& request, const LoaderPaths& paths, Kernel& kernel) {
  LoadRequest with_dependencies = request;
  if (!with_dependencies.open_dependency) with_dependencies.open_dependency = open_source;
  const auto source = open_source(with_dependencies);
  return load(with_dependencies, paths, kernel, source.get(), plan_in_tree);
}

}  // namespace ckms::loader
