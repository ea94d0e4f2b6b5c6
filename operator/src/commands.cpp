#include "ckms/operator/commands.hpp"

#include <fmt/format.h>

#include "ckms/oci/reference.hpp"

namespace ckms::op {
namespace {

void registry_flags(const KernelModuleSpec& spec, std::vector<std::string>& argv) {
  // plainHTTP belongs to this spec's repository, so it names that registry alone.
  if (spec.registry.plain_http) {
    argv.insert(argv.end(), {"--insecure-registry", oci::Reference::parse(spec.repository).registry().registry});
  }
  if (spec.registry.auth_secret) {
    argv.emplace_back("--authfile");
    argv.push_back(fmt::format("{}/.dockerconfigjson", pod_path::auth));
  }
}

}  // namespace

std::vector<std::string> build_command(const KernelModuleSpec& spec, std::string_view release) {
  std::vector<std::string> argv{std::string(pod_path::ckms), "build"};
  // A source artifact is fetched by ckms itself; an image's tree was copied into the pod.
  argv.push_back(spec.source.artifact ? *spec.source.artifact : std::string(pod_path::source));
  // In place (--runtime none): this pod's root is the kernel's build image, so no image
  // template; the cache goes to the pod's scratch space.
  argv.insert(argv.end(), {"--kernel", std::string(release), "--runtime", "none", "--output", spec.repository,
                           "--cache-dir", std::string(pod_path::build_cache)});
  if (spec.signing_secret) {
    argv.insert(argv.end(), {"--sign-key", fmt::format("{}/tls.key", pod_path::signing), "--sign-cert",
                             fmt::format("{}/tls.crt", pod_path::signing)});
  } else {
    argv.emplace_back("--no-sign");  // ckms build wants the choice said out loud
  }
  registry_flags(spec, argv);
  if (!spec.registry.plain_http) argv.insert(argv.end(), {"--ca-cert", std::string(pod_path::ca_bundle)});
  return argv;
}

std::vector<std::string> load_command(const KernelModuleSpec& spec) {
  std::string reference = fmt::format("{}:{}", spec.repository, spec.version);
  if (spec.digest) reference += "@" + spec.digest->str();
  std::vector<std::string> argv{std::string(pod_path::ckms), "load", reference};
  if (spec.trusted_certificate) {
    argv.emplace_back("--trust");
    argv.push_back(fmt::format("{}/{}", pod_path::trust, spec.trusted_certificate->key));
  }
  for (const auto& [name, value] : spec.parameters) {
    argv.emplace_back("--param");
    argv.push_back(fmt::format("{}={}", name, value));
  }
  registry_flags(spec, argv);
  return argv;
}

std::vector<std::string> unload_command(const KernelModuleSpec& spec) {
  return {std::string(pod_path::ckms), "unload", spec.module_name};
}

std::vector<std::string> loader_entrypoint(const std::vector<std::string>& load) {
  // sh is PID 1 and ignores SIGTERM unless trapped; `sleep & wait` lets the trap run at once.
  const std::string script = fmt::format(
      "set -e; "
      "for m in ${{CKMS_REMOVE_IN_TREE:-}}; do if [ -d \"/sys/module/$m\" ]; then rmmod \"$m\"; fi; done; "
      "\"$@\"; touch {}; "
      "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done",
      pod_path::ready_marker);
  std::vector<std::string> argv{"/bin/sh", "-c", script, "ckms-loader"};
  argv.insert(argv.end(), load.begin(), load.end());
  return argv;
}

}  // namespace ckms::op
