#include "registry_flags.hpp"

#include <iostream>

#include "ckms/base/error.hpp"

namespace ckms::cli {
namespace {

// Read once: a command that opens several registries (copy's source and destination, a
// build's images and output) asks for the password for each, and stdin holds it once.
const std::string& password_from_stdin() {
  static const std::string password = [] {
    std::string line;
    std::getline(std::cin, line);
    return line;
  }();
  return password;
}

}  // namespace

void add_registry_flags(CLI::App* command, RegistryFlags& flags) {
  command->add_flag("--plain-http", flags.plain_http,
                    "Talk HTTP instead of HTTPS to a registry on loopback (refused for any other host)");
  command
      ->add_option("--insecure-registry", flags.insecure_registries,
                   "Talk plain HTTP to this registry (HOST or HOST:PORT, repeatable): credentials and "
                   "artifacts cross the network in clear")
      // One HOST per flag, so that a reference after it stays a positional argument.
      ->allow_extra_args(false);
  command->add_option("--ca-cert", flags.ca_cert, "PEM file of CAs to trust besides the system's")
      ->check(CLI::ExistingFile);
  command->add_option("-u,--username", flags.username, "Registry user name");
  command->add_flag("--password-stdin", flags.password_stdin, "Read the password from standard input");
  command->add_option("--authfile", flags.auth_file,
                      "Credentials file (default: $REGISTRY_AUTH_FILE, containers auth.json, docker config.json)");
}

oci::RegistryOptions registry_options(const RegistryFlags& flags) {
  oci::RegistryOptions options;
  options.plain_http = flags.plain_http;
  options.insecure_registries = flags.insecure_registries;
  if (!flags.ca_cert.empty()) options.ca_cert = flags.ca_cert;
  if (!flags.auth_file.empty()) options.auth_file = flags.auth_file;
  if (!flags.username.empty()) {
    if (!flags.password_stdin) fail(ErrorKind::usage, "--username needs --password-stdin");
    options.credentials = oci::Credentials{.username = flags.username, .password = password_from_stdin()};
  }
  return options;
}

}  // namespace ckms::cli
