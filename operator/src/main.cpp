// ckms-operator: reconciles KernelModule resources (docs/operator.md).

#include <malloc.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "ckms/base/exit_code.hpp"
#include "ckms/operator/artifacts.hpp"
#include "ckms/operator/controller.hpp"
#include "ckms/operator/kube_config.hpp"
#include "ckms/operator/log.hpp"

namespace {

struct CommandLine {
  std::string kubeconfig, context, namespace_name, authfile, ca_cert;
  std::string ckms_image = std::getenv("CKMS_IMAGE") ? std::getenv("CKMS_IMAGE") : "";
  bool once = false, json_logs = false;
  ckms::op::OperatorSettings settings;
  int resync_seconds = 300;
};

void add_options(CLI::App& app, CommandLine& cl) {
  app.add_option("--kubeconfig", cl.kubeconfig, "kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube/config)");
  app.add_option("--context", cl.context, "kubeconfig context (default: current-context)");
  app.add_option("--namespace,-n", cl.namespace_name, "namespace to watch (default: the config's)");
  app.add_flag("--once", cl.once, "reconcile every KernelModule once and exit");
  app.add_flag("--json", cl.json_logs, "log one JSON object per line");
  app.add_option("--ckms-image", cl.ckms_image, "image holding /opt/ckms, also the loader image ($CKMS_IMAGE)");
  app.add_option("--image-pull-policy", cl.settings.image_pull_policy, "pull policy of the pods created")
      ->check(CLI::IsMember({"Always", "IfNotPresent", "Never"}));
  app.add_option("--build-deadline", cl.settings.build_deadline_seconds, "seconds a build Job may run")
      ->check(CLI::PositiveNumber);
  app.add_option("--resync", cl.resync_seconds, "seconds between registry re-checks of every module")
      ->check(CLI::PositiveNumber);
  app.add_option("--authfile", cl.authfile, "registry credentials for the operator's own tag checks");
  app.add_option("--ca-cert", cl.ca_cert, "CA bundle for the registry");
}

ckms::oci::RegistryOptions registry_options(const CommandLine& cl) {
  ckms::oci::RegistryOptions registry;
  if (!cl.authfile.empty()) registry.auth_file = cl.authfile;
  if (!cl.ca_cert.empty()) registry.ca_cert = cl.ca_cert;
  registry.user_agent = "ckms-operator";
  // A registry that stops answering is dropped after 10 s, and asked once more at most:
  // the checker's own deadline (20 s a reconcile) bounds the rest.
  registry.stall_timeout = std::chrono::seconds(10);
  registry.max_attempts = 2;
  return registry;
}

// Runs the controller until SIGINT or SIGTERM (blocked in every thread, see main) arrives.
void run_until_signalled(ckms::op::Controller& controller, const sigset_t& signals, ckms::op::Logger& log) {
  std::atomic<bool> stop{false};
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    log.info("stopping", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
    stop = true;
  });
  controller.run(stop);
  if (!stop) {  // run only returns early on stop; unblock the waiter either way
    stop = true;
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  const auto stats = controller.stats();
  log.info("stopped", {{"reconciles", stats.reconciles}, {"failures", stats.failures}});
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives each thread that allocates an arena of its own (up to 8 per core), and each
  // keeps what it freed: with an informer thread per resource and a thread per registry
  // check, that is a fifth of the operator's memory at 5,000 pods (bench/operator_scale.sh).
  // The threads mostly wait on sockets; two arenas are enough for them.
  mallopt(M_ARENA_MAX, 2);
  CLI::App app{"ckms-operator: builds and loads KernelModules on the nodes of a Kubernetes cluster"};
  CommandLine cl;
  add_options(app, cl);
  CLI11_PARSE(app, argc, argv);

  ckms::op::Logger log(cl.json_logs, std::cerr);
  if (cl.ckms_image.empty()) {
    log.error("--ckms-image (or $CKMS_IMAGE) is required: it is the loader image and brings ckms into builds");
    return 2;
  }
  cl.settings.ckms_image = cl.ckms_image;

  // Blocked before any thread starts, so every thread inherits the mask and only the
  // waiter below ever sees these signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    const auto config = ckms::op::discover_config(
        cl.kubeconfig.empty() ? std::nullopt : std::optional<std::filesystem::path>(cl.kubeconfig),
        cl.context.empty() ? std::nullopt : std::optional<std::string>(cl.context));
    ckms::op::ControllerOptions options;
    options.namespace_name = cl.namespace_name.empty() ? config.namespace_name : cl.namespace_name;
    options.settings = cl.settings;
    options.resync = std::chrono::seconds(cl.resync_seconds);
    ckms::op::RegistryArtifactChecker checker(registry_options(cl));
    ckms::op::Controller controller(config, options, checker, log);
    log.info("starting", {{"api", config.describe}, {"namespace", options.namespace_name}, {"once", cl.once}});

    if (cl.once) return controller.run_once() == 0 ? 0 : 1;
    run_until_signalled(controller, signals, log);
    return 0;
  } catch (const ckms::Error& e) {
    log.error(e.what());
    return ckms::exit_code_for(e.kind());
  } catch (const std::exception& e) {
    log.error(e.what());
    return 1;
  }
}
