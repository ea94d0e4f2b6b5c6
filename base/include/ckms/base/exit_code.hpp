#pragma once
// Exit codes of every ckms program (ckms, ckms-operator), documented in docs/cli.md: an
// error's kind decides its code.

#include "ckms/base/error.hpp"

namespace ckms {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,    // a command ran and failed (build failed, registry error, I/O)
  kExitUsage = 2,      // malformed arguments or input
  kExitNotFound = 3,   // reference, tag, blob or file missing
  kExitIntegrity = 4,  // digest, size or signature mismatch
  kExitRefused = 5,    // security policy refused (escape, untrusted signer, wrong kernel)
  kExitAuth = 6,       // credentials missing or rejected
  kExitNetwork = 7,    // the registry could not be reached
};

int exit_code_for(ErrorKind kind);

}  // namespace ckms
