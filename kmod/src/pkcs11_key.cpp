// Private keys in a PKCS#11 token (an HSM, a YubiKey, SoftHSM), reached the way the kernel's
// scripts/sign-file reaches them: through OpenSSL's "pkcs11" engine (Debian's
// libengine-pkcs11-openssl, libp11), with the PIN from KBUILD_SIGN_PIN or the URI's
// pin-value. bookworm packages no PKCS#11 provider for OpenSSL 3, so the engine API it
// deprecates is the one that works; the same engine is what makes ckms's signatures and
// sign-file's the same bytes.
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/engine.h>

#include <cstdlib>

#include "ckms/base/error.hpp"
#include "openssl.hpp"

namespace ckms::kmod::ossl {

bool is_pkcs11_uri(std::string_view key) { return key.starts_with("pkcs11:"); }

PKey read_pkcs11_key(const std::string& uri) {
  ENGINE_load_builtin_engines();
  std::unique_ptr<ENGINE, Deleter<ENGINE_free>> engine(ENGINE_by_id("pkcs11"));
  if (!engine) {
    fail(ErrorKind::usage,
         "{}: the OpenSSL pkcs11 engine is not available (Debian: apt install libengine-pkcs11-openssl){}", uri,
         errors());
  }
  if (ENGINE_init(engine.get()) != 1) fail(ErrorKind::usage, "{}: cannot start the pkcs11 engine{}", uri, errors());
  const std::unique_ptr<ENGINE, Deleter<ENGINE_finish>> started(engine.get());
  if (const char* pin = std::getenv("KBUILD_SIGN_PIN")) {
    if (ENGINE_ctrl_cmd_string(engine.get(), "PIN", pin, 0) != 1) {
      fail(ErrorKind::usage, "{}: the pkcs11 engine refused the PIN from KBUILD_SIGN_PIN{}", uri, errors());
    }
  }
  PKey key(ENGINE_load_private_key(engine.get(), uri.c_str(), nullptr, nullptr));
  if (!key) {
    fail(ErrorKind::usage, "{}: no private key at this PKCS#11 URI (is the token present, the PIN right?){}", uri,
         errors());
  }
  return key;
}

}  // namespace ckms::kmod::ossl
