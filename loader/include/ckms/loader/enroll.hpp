#pragma once
// `ckms key enroll` and `ckms key status`: getting a module signing certificate into the
// keys a Secure Boot kernel trusts, and telling whether it is there. On a UEFI host with
// shim, a key enrolled as a Machine Owner Key (MOK) reaches the kernel's .machine keyring,
// which verifies modules: `mokutil --import DER` queues it with a one-time password, and
// shim's MokManager asks for that password at the next boot to enroll it.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/kmod/kernel_key.hpp"
#include "ckms/loader/kernel.hpp"
#include "ckms/loader/kernel_keys.hpp"

namespace ckms::loader {

// One certificate as the running kernel sees it: held in which keyrings, if at all.
struct CertificateTrust {
  std::filesystem::path file;
  kmod::KernelKeyIdentity identity;
  std::vector<std::string> keyrings;  // empty: the kernel does not hold it
  bool trusted_for_modules = false;

  nlohmann::json to_json() const;
};

CertificateTrust certificate_trust(const std::filesystem::path& file, const kmod::KernelKeyIdentity& identity,
                                   const KernelKeys& keys);

// The one certificate in `file` (PEM or DER). Usage error when it holds none or several.
kmod::KernelKeyIdentity read_one_certificate(const std::filesystem::path& file);

struct EnrollmentPlan {
  CertificateTrust certificate;
  std::filesystem::path der_file;    // where the DER goes (the input itself when it is that DER)
  bool der_is_input = false;         // nothing to write
  std::vector<std::string> command;  // mokutil --import <der_file>
  std::string cannot_run;            // why ckms will not run it on this host; "" when it can
};

// `output`: where to write the DER; empty means beside the certificate, as <stem>.der.
// `mokutil`: the program to run, found in PATH (empty when it is not installed).
EnrollmentPlan plan_enrollment(const std::filesystem::path& certificate, const std::filesystem::path& output,
                               const std::filesystem::path& mokutil, Kernel& kernel, const KernelKeyPaths& paths = {});

// Writes the plan's DER (atomically, mode 0644), unless it is the input itself.
void write_der(const EnrollmentPlan& plan);

// What shim's MokManager shows at the next boot, step by step, after `mokutil --import`.
std::string next_boot_steps(const kmod::KernelKeyIdentity& identity);

// The certificates that ckms trusts (files or directories, as `ckms load --trust`), each
// with the kernel's view of it.
std::vector<CertificateTrust> trust_of_certificates(const std::vector<std::filesystem::path>& paths,
                                                    const KernelKeys& keys);

}  // namespace ckms::loader
