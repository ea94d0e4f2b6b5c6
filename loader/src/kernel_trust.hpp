#pragma once
// The kernel's own verdict, foreseen: a kernel that enforces module signatures
// (module.sig_enforce, lockdown) refuses a module whose signer's key it does not hold, with
// a bare EKEYREJECTED or EPERM. ckms refuses first, before anything is inserted, naming the
// key and how to enroll it.

#include <vector>

#include "ckms/loader/kernel.hpp"
#include "ckms/loader/load.hpp"

namespace ckms::loader::detail {

// Refused when `kernel` enforces signatures and its keyrings, as far as they can be read,
// hold no key for the certificate that verified one of `modules`. Nothing is read beyond
// the policy when the kernel does not enforce.
void check_kernel_trusts(const std::vector<LoadedModule>& modules, Kernel& kernel);

}  // namespace ckms::loader::detail
