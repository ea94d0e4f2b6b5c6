#include "kernel_trust.hpp"

#include "ckms/base/error.hpp"
#include "ckms/kmod/kernel_key.hpp"

namespace ckms::loader::detail {

void check_kernel_trusts(const std::vector<LoadedModule>& modules, Kernel& kernel) {
  if (modules.empty()) return;
  const SignaturePolicy policy = kernel.signature_policy();
  if (!policy.enforced()) return;
  const KernelKeys keys = kernel.trusted_keys();
  for (const auto& module : modules) {
    const auto identity = kmod::kernel_key_identity(module.signer_certificate, module.signer);
    const KernelKey* key = keys.find(identity.key_id);
    if (key != nullptr && key->trusted_for_modules()) continue;
    // Keys ckms cannot see may still be there: the kernel decides then.
    if (key == nullptr && !keys.unknown.empty()) continue;
    fail(ErrorKind::refused,
         "{}: refused before inserting: the kernel enforces module signatures ({}) and does not trust its signer "
         "\"{}\" (key id {}{}); enroll the certificate with `ckms key enroll --cert FILE` and reboot "
         "(`ckms key status` shows what the kernel trusts)",
         module.file, policy.enforced_by(), identity.kernel_name, identity.key_id,
         key == nullptr ? "" : ", held only in " + key->keyrings.front() + ", which does not verify modules");
  }
}

}  // namespace ckms::loader::detail
