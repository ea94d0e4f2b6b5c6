// spec.kernels: releases built ahead of the nodes, reported per release in status.preflight.

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/operator/preflight.hpp"
#include "fixtures.hpp"

using namespace ckms::op;
using nlohmann::json;

namespace {

const std::string k47 = "6.1.0-47-cloud-amd64";
const std::string k56 = "6.1.0-56-cloud-amd64";
const std::string k57 = "6.1.0-57-cloud-amd64";
const std::string k58 = "6.1.0-58-cloud-amd64";

Observed observe(const json& kernels) {
  json km = test::load_json("kernelmodule.json");
  km["spec"]["kernels"] = kernels;
  Observed o = test::observed_cluster(km);
  o.artifacts = {{k47, Availability::published}, {k56, Availability::published}};
  return o;
}

const json* job_for(const Desired& d, const std::string& release) {
  for (const auto& j : d.jobs)
    if (kernel_release_of(j) == release) return &j;
  return nullptr;
}

}  // namespace

TEST_CASE("preflight: an upcoming kernel is built before any node runs it", "[operator][preflight]") {
  Observed o = observe({k57, k58, k47});  // k47 runs on nodes already: not a preflight release
  o.artifacts[k57] = Availability::missing;
  o.artifacts[k58] = Availability::published;
  const Desired d = reconcile(o, OperatorSettings{});

  REQUIRE(d.status.preflight.size() == 2);
  CHECK(d.status.preflight[0].release == k57);
  CHECK(d.status.preflight[0].state == PreflightState::building);
  CHECK(d.status.preflight[0].message == "Job " + build_job_name(o.module, k57));
  CHECK(d.status.preflight[1].release == k58);
  CHECK(d.status.preflight[1].state == PreflightState::published);
  CHECK(d.status.preflight[1].message == "registry.example/ckms/ckms-hello:1.0.0-" + k58);

  REQUIRE(job_for(d, k57) != nullptr);  // the build, as for a node's kernel
  CHECK(job_for(d, k57)->value("/spec/template/spec/containers/0/image"_json_pointer, std::string()) ==
        "registry.example/ckms/kernel-build:" + k57);
  CHECK(job_for(d, k58) == nullptr);
  for (const auto& ds : d.daemon_sets) CHECK(kernel_release_of(ds) != k58);  // no node, no loader
  CHECK(d.status.nodes == 3);                                                // the counts stay the nodes'

  SECTION("a failed build says so, once, and is not retried") {
    json failed = test::load_json("job-failed.json");
    failed["metadata"] = job_for(d, k57)->at("metadata");
    failed["spec"]["template"] = job_for(d, k57)->at("spec").at("template");
    o.jobs.push_back(failed);
    const Desired after = reconcile(o, OperatorSettings{});
    CHECK(after.status.preflight[0].state == PreflightState::build_failed);
    CHECK_THAT(after.status.preflight[0].message, Catch::Contains("backoff limit"));
    REQUIRE(after.events.size() == 1);
    CHECK(after.events[0].reason == "BuildFailed");
    CHECK_THAT(after.events[0].message, Catch::Contains("preflight") && Catch::Contains(k57));
    CHECK(spec_hash(*job_for(after, k57)) == spec_hash(failed));  // the same Job, kept
  }
  SECTION("without an answer, a running build goes on and none is started") {
    o.jobs.push_back(*job_for(d, k57));
    o.artifacts[k57] = Availability::unknown;
    o.unanswered[k57] = "timed out";
    const Desired silent = reconcile(o, OperatorSettings{});
    CHECK(job_for(silent, k57) != nullptr);
    CHECK(silent.status.preflight[0].state == PreflightState::unknown);
    CHECK(silent.status.preflight[0].message == "no answer from the registry (timed out)");
    o.jobs.clear();
    CHECK(job_for(reconcile(o, OperatorSettings{}), k57) == nullptr);
  }
  SECTION("once a node boots the kernel, it is a node kernel: a loader, no preflight entry") {
    o.nodes[0]["status"]["nodeInfo"]["kernelVersion"] = k58;
    const Desired booted = reconcile(o, OperatorSettings{});
    CHECK(booted.status.preflight.size() == 1);
    bool loader = false;
    for (const auto& ds : booted.daemon_sets) loader |= kernel_release_of(ds) == k58;
    CHECK(loader);
  }
  SECTION("the status reads back as written") {
    CHECK(status_from_json(to_json(d.status)).preflight == d.status.preflight);
  }
}

TEST_CASE("preflight: spec.kernels takes releases only", "[operator][preflight]") {
  CHECK_THROWS_WITH(observe({"6.1.0 bad"}), Catch::Contains("spec.kernels"));
  CHECK_THROWS_WITH(observe({"../6.1"}), Catch::Contains("spec.kernels"));
  CHECK_THROWS_WITH(observe("6.1.0-57"), Catch::Contains("spec.kernels"));
  CHECK(observe({k57, k57}).module.spec.kernels == std::vector<std::string>{k57});
}
