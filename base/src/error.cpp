#include "ckms/base/error.hpp"

#include <cerrno>
#include <cstring>

namespace ckms {

void fail_errno(const std::string& what) {
  const int saved = errno;
  throw Error(ErrorKind::io, fmt::format("{}: {}", what, std::strerror(saved)));
}

}  // namespace ckms
