#pragma once
// One error type for the whole project. Its kind decides the CLI exit code; its message
// always names the input it is about (a file, a blob, a reference, a registry reply).

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace ckms {

enum class ErrorKind {
  usage,      // the caller asked for something malformed
  not_found,  // a reference, tag, blob or file that does not exist
  integrity,  // bytes that do not match their digest or size, a bad signature
  refused,    // a security policy said no (escape from a directory, untrusted signer)
  auth,       // credentials missing or rejected
  network,    // transport failure after retries
  registry,   // a registry answered with an error
  io,         // local filesystem failure
  build,      // a module build failed
  internal,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(kind, fmt::format(format, std::forward<Args>(args)...));
}

// Throws an io error naming `what` with strerror(errno) appended.
[[noreturn]] void fail_errno(const std::string& what);

}  // namespace ckms
