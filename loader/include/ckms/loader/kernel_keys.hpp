#pragma once
// What the running kernel demands of a module's signature, and the keys it checks them
// with. The kernel refuses a module whose signer it does not hold when module.sig_enforce
// is set or the kernel is locked down (Secure Boot locks Debian's kernel down); it checks
// modules against .builtin_trusted_keys and .secondary_trusted_keys, to which .machine
// (the MOK keys shim passes on) is linked. .platform (firmware db) keys verify kexec
// images only. ckms reads the same facts so that it can refuse before inserting, naming
// the key, instead of passing on the kernel's bare EKEYREJECTED.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ckms::loader {

enum class SecureBoot { on, off, no_efi, unknown };
std::string_view to_string(SecureBoot state);

struct SignaturePolicy {
  // /sys/module/module/parameters/sig_enforce; nullopt when the kernel has no module signing.
  std::optional<bool> sig_enforce;
  // The active mode of /sys/kernel/security/lockdown ("none", "integrity",
  // "confidentiality"); empty when unknown (no securityfs, or no lockdown support).
  std::string lockdown;
  SecureBoot secure_boot = SecureBoot::unknown;

  // Whether the kernel refuses a module signed by a key it does not hold.
  bool enforced() const;
  // What enforces it, for messages: "module.sig_enforce", "lockdown=integrity"; "" if nothing.
  std::string enforced_by() const;
  nlohmann::json to_json() const;
};

inline constexpr std::string_view kBuiltinKeyring = ".builtin_trusted_keys";
inline constexpr std::string_view kSecondaryKeyring = ".secondary_trusted_keys";
inline constexpr std::string_view kMachineKeyring = ".machine";
inline constexpr std::string_view kPlatformKeyring = ".platform";

struct KernelKey {
  std::int32_t serial = 0;
  std::string description;            // "<name>: <id>", as kmod::KernelKeyIdentity::description()
  std::vector<std::string> keyrings;  // which of the four keyrings above hold it

  std::string key_id() const;  // the part after the last ": "
  bool trusted_for_modules() const;
};

struct KernelKeys {
  std::vector<KernelKey> keys;  // the asymmetric keys in the four keyrings
  // Why the list may be incomplete ("" when it is not): no /proc/keys, a keyring that
  // cannot be read.
  std::string unknown;

  // The key with this id (case-insensitive), if the kernel holds it in one of the keyrings.
  const KernelKey* find(std::string_view key_id) const;
};

struct KernelKeyPaths {
  std::filesystem::path sig_enforce{"/sys/module/module/parameters/sig_enforce"};
  std::filesystem::path lockdown{"/sys/kernel/security/lockdown"};
  std::filesystem::path efi{"/sys/firmware/efi"};
  std::filesystem::path proc_keys{"/proc/keys"};
};

SignaturePolicy read_signature_policy(const KernelKeyPaths& paths = {});

// The serials a keyring links (keyctl read); nullopt when it cannot be read.
using KeyringReader = std::function<std::optional<std::vector<std::int32_t>>(std::int32_t keyring)>;
KeyringReader keyctl_reader();

// /proc/keys for the keyrings' serials and the keys' descriptions; `read_keyring` for
// which keys each keyring holds.
KernelKeys read_kernel_keys(const KernelKeyPaths& paths = {}, const KeyringReader& read_keyring = keyctl_reader());

// Parses /proc/keys text into serial, type and description (what follows the type
// column, without the asymmetric key's ": X509.rsa <id tail> []" or a keyring's ": N").
struct ProcKey {
  std::int32_t serial = 0;
  std::string type;  // as /proc/keys truncates it: "asymmetri", "keyring"
  std::string description;
};
std::vector<ProcKey> parse_proc_keys(std::string_view text);

}  // namespace ckms::loader
