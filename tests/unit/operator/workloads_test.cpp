// The Jobs and DaemonSets, and the ckms command lines inside them.

#include <catch2/catch.hpp>

#include "ckms/operator/commands.hpp"
#include "ckms/operator/resources.hpp"
#include "ckms/operator/workloads.hpp"
#include "fixtures.hpp"

using namespace ckms::op;
using nlohmann::json;
using Strings = std::vector<std::string>;

namespace {
const std::string k47 = "6.1.0-47-cloud-amd64";

KernelModule module() { return parse_kernel_module(test::load_json("kernelmodule.json")); }

OperatorSettings settings() {
  OperatorSettings s;
  s.ckms_image = "registry.example/ckms/ckms:0.1.0";
  return s;
}

const json& container(const json& object, const char* list, const std::string& name) {
  for (const auto& c : object["spec"]["template"]["spec"][list])
    if (c["name"] == name) return c;
  throw std::runtime_error("no container " + name);
}

bool mounts(const json& c, const std::string& path) {
  for (const auto& m : c["volumeMounts"])
    if (m["mountPath"] == path) return true;
  return false;
}
}  // namespace

TEST_CASE("ckms command lines", "[operator][commands]") {
  KernelModule km = module();
  CHECK(build_command(km.spec, k47) ==
        Strings{"/opt/ckms/bin/ckms", "build", "registry.example/ckms/ckms-hello-source:1.0.0", "--kernel", k47,
                "--runtime", "none", "--output", "registry.example/ckms/ckms-hello", "--cache-dir", "/tmp/ckms-cache",
                "--sign-key", "/etc/ckms/signing/tls.key", "--sign-cert", "/etc/ckms/signing/tls.crt", "--authfile",
                "/etc/ckms/auth/.dockerconfigjson", "--ca-cert", "/opt/ckms/etc/ca-certificates.crt"});
  CHECK(load_command(km.spec) == Strings{"/opt/ckms/bin/ckms", "load", "registry.example/ckms/ckms-hello:1.0.0",
                                         "--trust", "/etc/ckms/trust/cert.pem", "--param", "greeting=world", "--param",
                                         "repeat=2", "--authfile", "/etc/ckms/auth/.dockerconfigjson"});
  CHECK(unload_command(km.spec) == Strings{"/opt/ckms/bin/ckms", "unload", "ckms-hello"});
  // A digest pin goes to ckms as REPO:VERSION@DIGEST: the version checked, the digest verified.
  KernelModule pinned = km;
  pinned.spec.digest = ckms::digest_of("an index");
  CHECK(load_command(pinned.spec).at(2) == "registry.example/ckms/ckms-hello:1.0.0@" + pinned.spec.digest->str());

  km.spec.source = {std::nullopt, "registry.example/src:1", "/usr/src/hello-1.0"};
  km.spec.signing_secret.reset();
  km.spec.registry = {true, std::nullopt};
  CHECK(build_command(km.spec, k47) == Strings{"/opt/ckms/bin/ckms", "build", "/work/src", "--kernel", k47, "--runtime",
                                               "none", "--output", "registry.example/ckms/ckms-hello", "--cache-dir",
                                               "/tmp/ckms-cache", "--no-sign", "--insecure-registry",
                                               "registry.example"});

  // Parameter values reach ckms as one argument each, never through a shell's parsing.
  const Strings entry = loader_entrypoint({"/opt/ckms/bin/ckms", "load", "r:1", "--param", "greeting=a b;$(x)"});
  CHECK(entry.at(0) == "/bin/sh");
  CHECK(entry.at(3) == "ckms-loader");
  CHECK(entry.back() == "greeting=a b;$(x)");
}

TEST_CASE("the build Job: build image per kernel, ckms from the init container, the signing secret",
          "[operator][workloads]") {
  const KernelModule km = module();
  const json job = build_job(km, k47, settings());
  CHECK(job["metadata"]["name"] == "ckms-hello-build-" + kernel_key(k47));
  CHECK(job["metadata"]["annotations"][std::string(label::kernel_release)] == k47);
  CHECK(job["metadata"]["labels"][std::string(label::managed_by)] == "ckms-operator");
  const json& owner = job["metadata"]["ownerReferences"][0];
  CHECK(owner["kind"] == "KernelModule");
  CHECK(owner["uid"] == km.uid);
  CHECK(owner["controller"] == true);

  const json& build = container(job, "containers", "build");
  CHECK(build["image"] == "registry.example/ckms/kernel-build:" + k47);
  CHECK(build["command"] == build_command(km.spec, k47));
  CHECK(mounts(build, "/opt/ckms"));
  CHECK(mounts(build, "/etc/ckms/signing"));
  CHECK(mounts(build, "/etc/ckms/auth"));
  const json& init = container(job, "initContainers", "ckms");
  CHECK(init["image"] == "registry.example/ckms/ckms:0.1.0");
  CHECK(job["spec"]["template"]["spec"]["restartPolicy"] == "Never");
  CHECK(job["spec"]["template"]["spec"]["imagePullSecrets"] == json::array({{{"name", "regcred"}}}));

  // Kernel releases with characters a tag cannot hold get the same tag rule as the builder.
  CHECK(container(build_job(km, "6.1.0+rt-amd64", settings()), "containers", "build")["image"] ==
        "registry.example/ckms/kernel-build:6.1.0_rt-amd64");
}

TEST_CASE("the loader DaemonSet: pinned nodes, host modules, unload on stop", "[operator][workloads]") {
  const KernelModule km = module();
  const json ds = loader_daemon_set(km, k47, {"worker-a1", "worker-a2"}, settings());
  CHECK(pinned_nodes(ds) == Strings{"worker-a1", "worker-a2"});
  CHECK(ds["spec"]["updateStrategy"]["type"] == "OnDelete");
  CHECK(ds["spec"]["template"]["spec"]["nodeSelector"] == json{{"ckms.io/hello", "true"}});
  const json& load = container(ds, "containers", "load");
  CHECK(load["lifecycle"]["preStop"]["exec"]["command"] == unload_command(km.spec));
  CHECK(load["securityContext"]["capabilities"]["add"] == json::array({"SYS_MODULE"}));
  CHECK(load["env"][0] == json{{"name", "CKMS_REMOVE_IN_TREE"}, {"value", "hello_old"}});
  CHECK(mounts(load, "/lib/modules"));
  CHECK(mounts(load, "/var/lib/ckms"));
  CHECK(mounts(load, "/run/ckms"));
  // The selector's labels are on the pod template, or the API server refuses the object.
  for (const auto& [key, value] : ds["spec"]["selector"]["matchLabels"].items())
    CHECK(ds["spec"]["template"]["metadata"]["labels"][key] == value);

  const json other_nodes = loader_daemon_set(km, k47, {"worker-a1"}, settings());
  CHECK(spec_hash(other_nodes) == spec_hash(ds));
  KernelModule changed = km;
  changed.spec.parameters["repeat"] = "3";
  CHECK(spec_hash(loader_daemon_set(changed, k47, {"worker-a1"}, settings())) != spec_hash(ds));
  changed = km;
  changed.uid = "another-incarnation";
  CHECK(spec_hash(loader_daemon_set(changed, k47, {"worker-a1"}, settings())) != spec_hash(ds));
}

TEST_CASE("derived names stay within 63 characters and apart per kernel", "[operator][workloads]") {
  KernelModule km = module();
  km.name = std::string(60, 'm');
  const std::string a = build_job_name(km, k47);
  const std::string b = build_job_name(km, "6.1.0-56-cloud-amd64");
  CHECK(a.size() <= 63);
  CHECK(loader_name(km, k47).size() <= 63);
  CHECK(a != b);
  CHECK(is_dns_label(a));
}
