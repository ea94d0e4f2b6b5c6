#pragma once
// Internal to build_modules: what all kernels of one `ckms build` share, and the job that
// builds one kernel.

#include <memory>
#include <mutex>
#include <optional>

#include "ckms/builder/build.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/oci/layer_cache.hpp"

namespace ckms::builder::detail {

struct BuildContext {
  const BuildOptions& options;
  BuildObserver& observer;
  ckms::Digest source_digest;
  ckms::Digest dkms_conf_digest;
  std::optional<kmod::SigningKey> key;
  std::optional<ckms::Digest> certificate_digest;
  std::unique_ptr<oci::UnpackCache> unpack_cache;  // null when building in place
  unsigned make_jobs = 1;
  // The output target is one object shared by all workers; registry and layout clients
  // are not promised to be thread-safe, and publishing is short next to building.
  std::mutex output_mutex;
};

// Never throws: whatever goes wrong becomes a failed result with the reason.
KernelResult build_kernel(BuildContext& context, const KernelRequest& request, std::size_t index);

}  // namespace ckms::builder::detail
