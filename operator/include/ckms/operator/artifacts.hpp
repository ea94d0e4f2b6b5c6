#pragma once
// Which kernels already have a published module artifact: the registry is asked for the
// per-kernel tag `<version>-<release>` (artifact::kernel_tag), the source of truth that
// `ckms build` writes and `ckms load` reads.

#include <string_view>

#include "ckms/oci/registry.hpp"
#include "ckms/operator/kernel_module.hpp"
#include "ckms/operator/reconcile.hpp"

namespace ckms::op {

class ArtifactChecker {
 public:
  virtual ~ArtifactChecker() = default;
  virtual Availability check(const KernelModuleSpec& spec, std::string_view release) = 0;
};

// Resolves the tag in the module repository. Not found means missing; anything else
// (unreachable, denied) is unknown, which reconcile treats as "change nothing".
class RegistryArtifactChecker final : public ArtifactChecker {
 public:
  // `base` carries --authfile and --ca-cert; plain HTTP comes from each spec.
  explicit RegistryArtifactChecker(oci::RegistryOptions base) : base_(std::move(base)) {}
  Availability check(const KernelModuleSpec& spec, std::string_view release) override;
  // The message of the last unknown answer, for logs.
  const std::string& last_error() const { return last_error_; }

 private:
  oci::RegistryOptions base_;
  std::string last_error_;
};

}  // namespace ckms::op
