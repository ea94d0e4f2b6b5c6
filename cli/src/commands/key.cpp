// Signing key commands. The key and certificate are written by kmod::generate_signing_key
// (atomically, the key 0600 from its first byte); this file only refuses to replace a key
// by accident, since a lost key cannot sign updates that nodes already trust. Enrolling a
// certificate and the kernel's view of keys are the loader's (loader/enroll.hpp).
#include "key.hpp"

#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/base/process.hpp"
#include "ckms/kmod/keygen.hpp"
#include "ckms/loader/enroll.hpp"
#include "ckms/loader/trust.hpp"

namespace ckms::cli {
namespace fs = std::filesystem;

namespace {

struct GenerateArgs {
  std::string key;
  std::string cert;
  std::string subject;
  int days = 0;
  int bits = 0;
  bool force = false;
};

void run_generate(App& app, const GenerateArgs& args) {
  if (fs::path(args.key) == fs::path(args.cert)) {
    fail(ErrorKind::usage, "--key and --cert name the same file '{}'", args.key);
  }
  if (!args.force) {
    for (const auto& file : {args.key, args.cert}) {
      std::error_code ec;
      if (fs::exists(fs::symlink_status(file, ec))) {
        fail(ErrorKind::usage, "{} exists; refusing to overwrite it (--force replaces it)", file);
      }
    }
  }
  kmod::KeygenOptions options;
  if (!args.subject.empty()) options.common_name = args.subject;
  if (args.days != 0) options.days = args.days;
  if (args.bits != 0) options.rsa_bits = args.bits;
  const auto key = kmod::generate_signing_key(args.key, args.cert, options);
  if (app.options().json) {
    print_json({{"key", args.key},
                {"cert", args.cert},
                {"subject", key.subject},
                {"serial", key.serial},
                {"keyId", key.key_id},
                {"bits", options.rsa_bits},
                {"days", options.days}});
  } else {
    fmt::print(
        "key  {} (RSA {} bits, mode 0600)\ncert {}\n  subject {}\n  serial  {}\n  key id  {}\n  valid   {} days\n",
        args.key, options.rsa_bits, args.cert, key.subject, key.serial, key.key_id, options.days);
  }
}

struct EnrollArgs {
  std::string cert;
  std::string output;
  bool dry_run = false;
};

struct ShowArgs {
  std::string cert;
  std::string module;
};

struct StatusArgs {
  std::vector<std::string> trust;
};

void print_identity(const loader::CertificateTrust& trust) {
  const auto& id = trust.identity;
  fmt::print("certificate {}\n  subject  {}\n  kernel   {}  (as /proc/keys lists it)\n  key id   {}\n",
             trust.file.string(), id.subject, id.description(), id.key_id);
  fmt::print("  serial   {}\n  SHA-1    {}  (as mokutil lists it)\n  SHA-256  {}\n  expires  {}\n", id.serial,
             id.sha1_fingerprint, id.sha256_fingerprint, id.not_after);
  if (trust.keyrings.empty()) {
    fmt::print("  kernel trust: not held by the running kernel\n");
  } else {
    fmt::print("  kernel trust: in {}{}\n", fmt::join(trust.keyrings, ", "),
               trust.trusted_for_modules ? " (verifies modules)" : " (does not verify modules)");
  }
}

void print_policy(const loader::SignaturePolicy& policy) {
  fmt::print("secure boot        {}\n", loader::to_string(policy.secure_boot));
  fmt::print("lockdown           {}\n", policy.lockdown.empty() ? "unknown (no securityfs)" : policy.lockdown);
  fmt::print("module.sig_enforce {}\n",
             policy.sig_enforce ? (*policy.sig_enforce ? "on" : "off") : "absent (no module signing)");
  fmt::print("enforced           {}\n", policy.enforced() ? "yes, by " + policy.enforced_by()
                                                          : "no: the kernel loads modules it cannot verify (tainted)");
}

void run_enroll(App& app, const EnrollArgs& args) {
  loader::LinuxKernel kernel;
  const auto mokutil = find_program("mokutil");
  const auto plan = loader::plan_enrollment(args.cert, args.output, mokutil.value_or(""), kernel);
  const bool trusted = plan.certificate.trusted_for_modules;
  const bool runs = !args.dry_run && !trusted && plan.cannot_run.empty();
  if (!args.dry_run) write_der(plan);
  if (app.options().json) {
    print_json({{"certificate", plan.certificate.to_json()},
                {"der", plan.der_file.string()},
                {"dryRun", args.dry_run},
                {"alreadyTrusted", trusted},
                {"command", plan.command},
                {"cannotRun", plan.cannot_run}});
  } else {
    print_identity(plan.certificate);
    fmt::print("{} {} (DER, what mokutil --import takes)\n",
               plan.der_is_input ? "DER is" : (args.dry_run ? "would write" : "wrote"), plan.der_file.string());
  }
  if (trusted) {
    if (!app.options().json) fmt::print("the running kernel already trusts it for modules: nothing to enroll\n");
    return;
  }
  if (!runs) {
    if (app.options().json) return;
    if (!plan.cannot_run.empty()) fmt::print("not enrolling here: {}\n", plan.cannot_run);
    fmt::print("{}: {}\n  (it asks for a one-time password, twice)\n{}\n",
               args.dry_run ? "would run" : "on a UEFI Secure Boot host with shim, run", fmt::join(plan.command, " "),
               loader::next_boot_steps(plan.certificate.identity));
    return;
  }
  fmt::print(stderr, "running: {}\n", fmt::join(plan.command, " "));
  const int status = run_interactive(plan.command);
  if (status != 0)
    fail(ErrorKind::io, "{} failed (exit {}); nothing was enrolled", fmt::join(plan.command, " "), status);
  if (!app.options().json) fmt::print("{}\n", loader::next_boot_steps(plan.certificate.identity));
}

void run_show(App& app, const ShowArgs& args) {
  loader::LinuxKernel kernel;
  const auto trust =
      loader::certificate_trust(args.cert, loader::read_one_certificate(args.cert), kernel.trusted_keys());
  const auto policy = kernel.signature_policy();
  std::optional<kmod::SignerId> signer;
  if (!args.module.empty()) {
    signer = kmod::read_module_signer(args.module);
    if (!signer) fail(ErrorKind::refused, "{}: is not signed", args.module);
  }
  const bool signs = signer && kmod::signed_by(*signer, trust.identity);
  if (app.options().json) {
    nlohmann::json j{{"certificate", trust.to_json()}, {"kernel", policy.to_json()}};
    if (signer) j["module"] = {{"file", args.module}, {"signedByCertificate", signs}};
    print_json(j);
  } else {
    print_identity(trust);
    if (signer) fmt::print("  signed {}: {}\n", args.module, signs ? "yes" : "no");
    print_policy(policy);
  }
  if (signer && !signs) {
    fail(ErrorKind::refused, "{}: signed by \"{}\" (serial {}{}), not by {}", args.module, signer->issuer,
         signer->serial.empty() ? "-" : signer->serial, signer->key_id.empty() ? "" : ", key id " + signer->key_id,
         args.cert);
  }
}

void run_status(App& app, const StatusArgs& args) {
  loader::LinuxKernel kernel;
  const auto policy = kernel.signature_policy();
  const auto keys = kernel.trusted_keys();
  std::vector<fs::path> paths(args.trust.begin(), args.trust.end());
  if (paths.empty()) paths.emplace_back(loader::kDefaultTrustDir);
  std::error_code ec;
  std::vector<loader::CertificateTrust> certificates;
  if (!args.trust.empty() || fs::is_directory(paths.front(), ec))
    certificates = loader::trust_of_certificates(paths, keys);
  if (app.options().json) {
    nlohmann::json kernel_keys = nlohmann::json::array();
    for (const auto& key : keys.keys) {
      kernel_keys.push_back({{"description", key.description},
                             {"keyId", key.key_id()},
                             {"keyrings", key.keyrings},
                             {"trustedForModules", key.trusted_for_modules()}});
    }
    nlohmann::json trusted = nlohmann::json::array();
    for (const auto& c : certificates) trusted.push_back(c.to_json());
    print_json({{"kernel", policy.to_json()},
                {"kernelKeys", kernel_keys},
                {"kernelKeysUnknown", keys.unknown},
                {"certificates", trusted}});
    return;
  }
  print_policy(policy);
  fmt::print("kernel keys{}\n", keys.unknown.empty() ? "" : " (incomplete: " + keys.unknown + ")");
  for (const auto& key : keys.keys) fmt::print("  {}  [{}]\n", key.description, fmt::join(key.keyrings, ", "));
  for (const auto& c : certificates) {
    fmt::print("ckms trusts {}: {}\n", c.identity.description(),
               c.trusted_for_modules ? "the kernel trusts it too"
               : policy.enforced()   ? "the kernel does NOT trust it and refuses its modules (`ckms key enroll`)"
                                     : "the kernel does not trust it (its modules load, tainting the kernel)");
  }
}

void register_trust_commands(App& app, CLI::App* key) {
  static EnrollArgs enroll_args;
  auto* enroll = key->add_subcommand(
      "enroll", "Write a certificate's DER and enroll it as a Machine Owner Key (mokutil --import) for Secure Boot");
  enroll->add_option("--cert", enroll_args.cert, "Certificate to enroll (PEM or DER)")
      ->required()
      ->check(CLI::ExistingFile);
  enroll->add_option("--output", enroll_args.output, "Where to write its DER form (default: beside it, .der)");
  enroll->add_flag("--dry-run", enroll_args.dry_run, "Print what would be done; write and run nothing");
  app.on(enroll, [&app] { run_enroll(app, enroll_args); });

  static ShowArgs show_args;
  auto* show = key->add_subcommand("show", "A certificate as the kernel names it, and whether the kernel trusts it");
  show->add_option("--cert", show_args.cert, "Certificate (PEM or DER)")->required()->check(CLI::ExistingFile);
  show->add_option("--module", show_args.module, "Also say whether this certificate signed this module file")
      ->check(CLI::ExistingFile);
  app.on(show, [&app] { run_show(app, show_args); });

  static StatusArgs status_args;
  auto* status = key->add_subcommand(
      "status", "Secure Boot, lockdown, module.sig_enforce, the kernel's trusted keys and ckms's certificates");
  status->add_option(
      "--trust", status_args.trust,
      fmt::format("Certificates ckms trusts (files or directories; default {})", loader::kDefaultTrustDir));
  app.on(status, [&app] { run_status(app, status_args); });
}

}  // namespace

void register_key_commands(App& app) {
  auto* key = app.add_group("key", "Module signing keys");

  static GenerateArgs generate_args;
  auto* generate = key->add_subcommand(
      "generate", "Make an RSA signing key and self-signed certificate like the kernel's x509.genkey");
  generate->add_option("--key", generate_args.key, "Private key file to write (PEM, mode 0600)")->required();
  generate->add_option("--cert", generate_args.cert, "Certificate file to write (PEM)")->required();
  generate->add_option("--subject", generate_args.subject, "Certificate common name (CN)");
  generate->add_option("--days", generate_args.days, "Validity in days (default 3650)")->check(CLI::PositiveNumber);
  generate->add_option("--bits", generate_args.bits, "RSA key size (default 4096)")->check(CLI::PositiveNumber);
  generate->add_flag("--force", generate_args.force, "Replace existing files");
  app.on(generate, [&app] { run_generate(app, generate_args); });
  register_trust_commands(app, key);
}

}  // namespace ckms::cli
