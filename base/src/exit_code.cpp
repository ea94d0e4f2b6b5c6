#include "ckms/base/exit_code.hpp"

namespace ckms {

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::usage: return kExitUsage;
    case ErrorKind::not_found: return kExitNotFound;
    case ErrorKind::integrity: return kExitIntegrity;
    case ErrorKind::refused: return kExitRefused;
    case ErrorKind::auth: return kExitAuth;
    case ErrorKind::network: return kExitNetwork;
    case ErrorKind::registry:
    case ErrorKind::io:
    case ErrorKind::build:
    case ErrorKind::internal: return kExitFailure;
  }
  return kExitFailure;
}

}  // namespace ckms
