// Signing key commands. The key and certificate are written by kmod::generate_signing_key
// (atomically, the key 0600 from its first byte); this file only refuses to replace a key
// by accident, since a lost key cannot sign updates that nodes already trust.
#include "key.hpp"

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/kmod/keygen.hpp"

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
}

}  // namespace ckms::cli
