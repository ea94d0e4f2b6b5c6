// The kernel's module signature policy from sysfs and securityfs, and its trusted keys from
// /proc/keys and keyctl(KEYCTL_READ). keyctl goes through syscall(2): it is one call, and
// the node binary links statically, where libkeyutils would be one more archive for it.

#include "ckms/loader/kernel_keys.hpp"

#include <linux/keyctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ckms/base/enum_names.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

namespace {

constexpr EnumName<SecureBoot> kSecureBootNames[] = {
    {SecureBoot::on, "on"}, {SecureBoot::off, "off"}, {SecureBoot::no_efi, "no-efi"}, {SecureBoot::unknown, "unknown"}};

// Small sysfs and procfs files; /proc/keys grows with the keys, never near this.
constexpr std::size_t kMaxKernelFile = 4 << 20;

std::optional<std::string> read_small(const fs::path& file) {
  try {
    return ckms::read_file(file, kMaxKernelFile);
  } catch (const Error&) {
    return std::nullopt;
  }
}

// The SecureBoot variable of the EFI global-variable GUID: 4 bytes of attributes, then 1
// byte, 1 when Secure Boot is on.
SecureBoot read_secure_boot(const fs::path& efi) {
  std::error_code ec;
  if (!fs::is_directory(efi, ec)) return SecureBoot::no_efi;
  const auto value = read_small(efi / "efivars" / "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c");
  if (!value || value->size() != 5) return SecureBoot::unknown;
  return value->back() == 1 ? SecureBoot::on : SecureBoot::off;
}

// "none [integrity] confidentiality": the bracketed mode is the active one.
std::string active_lockdown(const std::string& text) {
  const auto open = text.find('[');
  const auto close = text.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  return text.substr(open + 1, close - open - 1);
}

bool in_keyring(const KernelKey& key, std::string_view keyring) {
  return std::find(key.keyrings.begin(), key.keyrings.end(), keyring) != key.keyrings.end();
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// What /proc/keys prints after the type column: an asymmetric key's description is followed
// by ": X509.rsa <last 4 bytes of its key id> []", a keyring's by ": <count>" or ": empty".
std::string description_of(const std::string& type, const std::string& rest) {
  static const std::regex asymmetric(R"(^(.*): \S+\.\S+( [0-9a-f]+)? \[\]$)");
  static const std::regex keyring(R"(^(.*): (\d+|empty)$)");
  std::smatch m;
  if (type == "asymmetri" && std::regex_match(rest, m, asymmetric)) return m[1];
  if (type == "keyring" && std::regex_match(rest, m, keyring)) return m[1];
  return rest;
}

}  // namespace

std::string_view to_string(SecureBoot state) { return name_of(state, kSecureBootNames); }

bool SignaturePolicy::enforced() const { return !enforced_by().empty(); }

std::string SignaturePolicy::enforced_by() const {
  if (sig_enforce.value_or(false)) return "module.sig_enforce";
  if (!lockdown.empty() && lockdown != "none") return "lockdown=" + lockdown;
  return {};
}

nlohmann::json SignaturePolicy::to_json() const {
  nlohmann::json j{{"secureBoot", to_string(secure_boot)},
                   {"lockdown", lockdown.empty() ? nlohmann::json() : nlohmann::json(lockdown)},
                   {"sigEnforce", sig_enforce ? nlohmann::json(*sig_enforce) : nlohmann::json()},
                   {"enforced", enforced()}};
  if (enforced()) j["enforcedBy"] = enforced_by();
  return j;
}

std::string KernelKey::key_id() const {
  const auto colon = description.rfind(": ");
  return colon == std::string::npos ? std::string() : description.substr(colon + 2);
}

bool KernelKey::trusted_for_modules() const {
  return in_keyring(*this, kBuiltinKeyring) || in_keyring(*this, kSecondaryKeyring) ||
         in_keyring(*this, kMachineKeyring);
}

const KernelKey* KernelKeys::find(std::string_view key_id) const {
  const std::string wanted = lower(key_id);
  for (const auto& key : keys) {
    if (lower(key.key_id()) == wanted) return &key;
  }
  return nullptr;
}

SignaturePolicy read_signature_policy(const KernelKeyPaths& paths) {
  SignaturePolicy policy;
  if (const auto value = read_small(paths.sig_enforce)) policy.sig_enforce = value->starts_with("Y");
  if (const auto value = read_small(paths.lockdown)) policy.lockdown = active_lockdown(*value);
  policy.secure_boot = read_secure_boot(paths.efi);
  return policy;
}

std::vector<ProcKey> parse_proc_keys(std::string_view text) {
  std::vector<ProcKey> out;
  std::istringstream lines{std::string(text)};
  for (std::string line; std::getline(lines, line);) {
    // serial flags usage expiry perm uid gid type description...
    std::istringstream fields(line);
    std::string serial, skipped, type;
    fields >> serial;
    for (int i = 0; i < 6; ++i) fields >> skipped;
    fields >> type;
    std::uint32_t value = 0;
    if (type.empty() || std::from_chars(serial.data(), serial.data() + serial.size(), value, 16).ec != std::errc{}) {
      continue;
    }
    std::string rest;
    std::getline(fields >> std::ws, rest);
    out.push_back({static_cast<std::int32_t>(value), type, description_of(type, rest)});
  }
  return out;
}

KeyringReader keyctl_reader() {
  return [](std::int32_t keyring) -> std::optional<std::vector<std::int32_t>> {
    std::vector<std::int32_t> serials(256);
    for (;;) {
      const long size =
          ::syscall(SYS_keyctl, KEYCTL_READ, keyring, serials.data(), serials.size() * sizeof(std::int32_t));
      if (size < 0) return std::nullopt;
      const auto count = static_cast<std::size_t>(size) / sizeof(std::int32_t);
      if (count <= serials.size()) {
        serials.resize(count);
        return serials;
      }
      serials.resize(count);
    }
  };
}

KernelKeys read_kernel_keys(const KernelKeyPaths& paths, const KeyringReader& read_keyring) {
  KernelKeys result;
  const auto text = read_small(paths.proc_keys);
  if (!text) {
    result.unknown = paths.proc_keys.string() + " cannot be read";
    return result;
  }
  const auto entries = parse_proc_keys(*text);
  std::vector<std::string> unreadable;
  for (const std::string_view name : {kBuiltinKeyring, kSecondaryKeyring, kMachineKeyring, kPlatformKeyring}) {
    const auto ring = std::find_if(entries.begin(), entries.end(),
                                   [&](const ProcKey& e) { return e.type == "keyring" && e.description == name; });
    if (ring == entries.end()) continue;  // this kernel has no such keyring
    const auto members = read_keyring(ring->serial);
    if (!members) {
      unreadable.emplace_back(name);
      continue;
    }
    for (const auto& entry : entries) {
      if (entry.type != "asymmetri" || std::find(members->begin(), members->end(), entry.serial) == members->end()) {
        continue;
      }
      auto known = std::find_if(result.keys.begin(), result.keys.end(),
                                [&](const KernelKey& k) { return k.serial == entry.serial; });
      if (known == result.keys.end()) {
        result.keys.push_back({entry.serial, entry.description, {}});
        known = result.keys.end() - 1;
      }
      known->keyrings.emplace_back(name);
    }
  }
  if (!unreadable.empty()) {
    result.unknown = fmt::format("keyrings {} cannot be read (keyctl read)", fmt::join(unreadable, ", "));
  }
  return result;
}

}  // namespace ckms::loader
