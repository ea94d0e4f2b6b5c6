#include "ckms/operator/artifacts.hpp"

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/oci/error.hpp"
#include "ckms/oci/reference.hpp"

namespace ckms::op {

Availability RegistryArtifactChecker::check(const KernelModuleSpec& spec, std::string_view release) {
  oci::RegistryOptions options = base_;
  options.plain_http = spec.registry.plain_http;
  const std::string tag = artifact::kernel_tag(spec.version, release);
  try {
    const auto reference = oci::Reference::parse(spec.repository).registry();
    oci::RegistryRepository repository(reference, options);
    repository.resolve(tag);
    return Availability::published;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found) return Availability::missing;
    last_error_ = e.what();
    return Availability::unknown;
  }
}

}  // namespace ckms::op
