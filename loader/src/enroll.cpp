#include "ckms/loader/enroll.hpp"

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/kmod/verify.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

nlohmann::json CertificateTrust::to_json() const {
  return {{"file", file.string()},
          {"subject", identity.subject},
          {"kernelDescription", identity.description()},
          {"keyId", identity.key_id},
          {"serial", identity.serial},
          {"sha1Fingerprint", identity.sha1_fingerprint},
          {"sha256Fingerprint", identity.sha256_fingerprint},
          {"notAfter", identity.not_after},
          {"keyrings", keyrings},
          {"trustedForModules", trusted_for_modules}};
}

CertificateTrust certificate_trust(const fs::path& file, const kmod::KernelKeyIdentity& identity,
                                   const KernelKeys& keys) {
  CertificateTrust trust{.file = file, .identity = identity};
  if (const KernelKey* key = keys.find(identity.key_id)) {
    trust.keyrings = key->keyrings;
    trust.trusted_for_modules = key->trusted_for_modules();
  }
  return trust;
}

kmod::KernelKeyIdentity read_one_certificate(const fs::path& file) {
  auto identities = kmod::read_kernel_key_identities(file);
  if (identities.size() != 1) {
    fail(ErrorKind::usage, "{}: holds {} certificates; give a file with the one to enroll", file.string(),
         identities.size());
  }
  return std::move(identities.front());
}

namespace {

// Why `mokutil --import` cannot queue a key here: it writes the MokNew EFI variable, which
// needs a UEFI boot with efivarfs; shim then enrolls it at the next boot.
std::string why_mokutil_cannot_run(const fs::path& mokutil, const KernelKeyPaths& paths) {
  std::error_code ec;
  if (!fs::is_directory(paths.efi, ec)) {
    return fmt::format("this host did not boot through UEFI ({} is absent): there is no MOK list to enroll into",
                       paths.efi.string());
  }
  if (fs::is_empty(paths.efi / "efivars", ec) || ec) {
    return fmt::format("the EFI variables are not mounted ({}): mount -t efivarfs efivarfs {}",
                       (paths.efi / "efivars").string(), (paths.efi / "efivars").string());
  }
  if (mokutil.empty()) return "mokutil is not installed (Debian: apt install mokutil)";
  return {};
}

}  // namespace

EnrollmentPlan plan_enrollment(const fs::path& certificate, const fs::path& output, const fs::path& mokutil,
                               Kernel& kernel, const KernelKeyPaths& paths) {
  const auto identity = read_one_certificate(certificate);
  EnrollmentPlan plan{.certificate = certificate_trust(certificate, identity, kernel.trusted_keys())};
  plan.der_file = output.empty() ? fs::path(certificate).replace_extension(".der") : output;
  std::error_code ec;
  plan.der_is_input = fs::equivalent(plan.der_file, certificate, ec) && !ec;
  if (plan.der_is_input && ckms::read_file(certificate, 1 << 20) != identity.der) {
    fail(ErrorKind::usage, "{}: is PEM; name another file for its DER form with --output", certificate.string());
  }
  plan.command = {mokutil.empty() ? "mokutil" : mokutil.string(), "--import", plan.der_file.string()};
  plan.cannot_run = why_mokutil_cannot_run(mokutil, paths);
  return plan;
}

void write_der(const EnrollmentPlan& plan) {
  if (plan.der_is_input) return;
  ckms::AtomicFile out(plan.der_file);
  out.write(plan.certificate.identity.der);
  out.commit(std::nullopt, std::nullopt, 0644);
}

std::string next_boot_steps(const kmod::KernelKeyIdentity& identity) {
  return fmt::format(
      "at the next boot, shim's MokManager (blue screen, \"Press any key to perform MOK management\") asks:\n"
      "  1. \"Enroll MOK\", then \"View key 0\": check that its SHA-1 fingerprint is {}\n"
      "  2. \"Continue\", \"Enroll the key(s)?\" Yes, and the one-time password you gave mokutil\n"
      "  3. \"Reboot\"; then `ckms key status` lists \"{}\" in .machine (or .platform on kernels\n"
      "     without a .machine keyring, which do not verify modules with it)",
      identity.sha1_fingerprint, identity.description());
}

std::vector<CertificateTrust> trust_of_certificates(const std::vector<fs::path>& paths, const KernelKeys& keys) {
  std::vector<CertificateTrust> out;
  for (const auto& file : kmod::certificate_files(paths)) {
    for (const auto& identity : kmod::read_kernel_key_identities(file)) {
      out.push_back(certificate_trust(file, identity, keys));
    }
  }
  return out;
}

}  // namespace ckms::loader
