#pragma once
// The registry flags every command that talks to a registry takes, and the options they
// ask for. Apart from targets.hpp: the node binary parses them but opens no registry.

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "ckms/oci/registry.hpp"

namespace ckms::cli {

struct RegistryFlags {
  bool plain_http = false;
  std::vector<std::string> insecure_registries;
  std::string ca_cert;
  std::string username;
  bool password_stdin = false;
  std::string auth_file;
};

// Adds --plain-http, --insecure-registry, --ca-cert, --username, --password-stdin, --authfile to a command.
void add_registry_flags(CLI::App* command, RegistryFlags& flags);

// The registry options the flags ask for; reads the password from stdin for --username.
oci::RegistryOptions registry_options(const RegistryFlags& flags);

}  // namespace ckms::cli
