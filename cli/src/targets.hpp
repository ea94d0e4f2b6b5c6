#pragma once
// Turns a parsed Reference into the Target it names, with the registry options the user gave.

#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "ckms/oci/reference.hpp"
#include "ckms/oci/registry.hpp"
#include "ckms/oci/target.hpp"

namespace ckms::cli {

struct RegistryFlags {
  bool plain_http = false;
  std::string ca_cert;
  std::string username;
  bool password_stdin = false;
  std::string auth_file;
};

// Adds --plain-http, --ca-cert, --username, --password-stdin, --authfile to a command.
void add_registry_flags(CLI::App* command, RegistryFlags& flags);

// The registry options the flags ask for; reads the password from stdin for --username.
oci::RegistryOptions registry_options(const RegistryFlags& flags);

// `create_layout`: a layout destination is created when missing; sources must exist.
std::unique_ptr<oci::Target> open_target(const oci::Reference& reference, const RegistryFlags& flags,
                                         bool create_layout);

// The tag or digest to resolve in a target ("" lets a layout pick its only manifest).
std::string reference_selector(const oci::Reference& reference);

}  // namespace ckms::cli
