#include <catch2/catch.hpp>

#include "ckms/builder/build_plan.hpp"

using namespace ckms::builder;

namespace {

DkmsConf conf_with(RawVariables extra) {
  RawVariables raw = {{"PACKAGE_NAME", {{0, "demo"}}},
                      {"PACKAGE_VERSION", {{0, "1.0"}}},
                      {"BUILT_MODULE_NAME", {{0, "demo"}}},
                      {"BUILT_MODULE_LOCATION", {{0, "src"}}},
                      {"DEST_MODULE_LOCATION", {{0, "/extra"}}}};
  for (auto& [k, v] : extra) raw[k] = v;
  return resolve_dkms_conf(raw, DkmsEnvironment::for_kernel("6.1.0-56-amd64"));
}

BuildPlan plan(const DkmsConf& conf, std::string release = "6.1.0-56-amd64",
               std::optional<KernelConfig> config = std::nullopt, std::string arch = "x86_64") {
  DkmsEnvironment env = DkmsEnvironment::for_kernel(release, arch);
  env.parallel_jobs = 2;
  return plan_build(conf, env, KernelTarget{release, arch, std::move(config)});
}

}  // namespace

TEST_CASE("plan: DKMS's default make command and the KERNELRELEASE rewrite") {
  const auto p = plan(conf_with({}));
  CHECK_FALSE(p.excluded);
  CHECK(p.make_command == "make -C /lib/modules/6.1.0-56-amd64/build M=/var/lib/dkms/demo/1.0/build");
  CHECK(p.make_invocation ==
        "make -j2 KERNELRELEASE=6.1.0-56-amd64 -C /lib/modules/6.1.0-56-amd64/build "
        "M=/var/lib/dkms/demo/1.0/build");
  REQUIRE(p.modules.size() == 1);
  CHECK(p.modules[0].built_path == "src/demo.ko");
  CHECK(p.modules[0].strip);
}

TEST_CASE("plan: a make command that does not start with make is run as written") {
  const auto p = plan(conf_with({{"MAKE", {{0, "KERNELDIR=/x make driver"}}}}));
  CHECK(p.make_invocation == "KERNELDIR=/x make driver");
}

TEST_CASE("plan: MAKE_MATCH picks the last matching MAKE") {
  const auto conf = conf_with(
      {{"MAKE", {{0, "make zero"}, {1, "make one"}, {2, "make two"}}}, {"MAKE_MATCH", {{1, "^6\\."}, {2, "^5\\."}}}});
  CHECK(plan(conf).make_command == "make one");
  CHECK(plan(conf, "5.10.0-1-amd64").make_command == "make two");
  CHECK(plan(conf, "4.19.0-1-amd64").make_command == "make zero");
  // With MAKE_MATCH[0] set and no match, DKMS falls back to its default.
  const auto strict = conf_with({{"MAKE", {{0, "make zero"}}}, {"MAKE_MATCH", {{0, "^7"}}}});
  CHECK(plan(strict).make_command.starts_with("make -C /lib/modules/6.1.0-56-amd64/build M="));
}

TEST_CASE("plan: PATCH_MATCH selects patches in order") {
  const auto conf = conf_with(
      {{"PATCH", {{0, "all.patch"}, {1, "old.patch"}, {2, "six.patch"}}}, {"PATCH_MATCH", {{1, "^4\\."}, {2, "^6"}}}});
  CHECK(plan(conf).patches == std::vector<std::string>{"all.patch", "six.patch"});
}

TEST_CASE("plan: BUILD_EXCLUSIVE_KERNEL, _MIN, _MAX and _ARCH") {
  CHECK(plan(conf_with({{"BUILD_EXCLUSIVE_KERNEL", {{0, "^5\\."}}}})).excluded);
  CHECK_FALSE(plan(conf_with({{"BUILD_EXCLUSIVE_KERNEL", {{0, "^(5\\.|6\\.)"}}}})).excluded);
  CHECK_FALSE(plan(conf_with({{"BUILD_EXCLUSIVE_KERNEL_MIN", {{0, "3.9"}}}})).excluded);
  CHECK(plan(conf_with({{"BUILD_EXCLUSIVE_KERNEL_MIN", {{0, "6.2"}}}})).excluded);
  CHECK(plan(conf_with({{"BUILD_EXCLUSIVE_KERNEL_MAX", {{0, "5.15"}}}})).excluded);
  CHECK_FALSE(plan(conf_with({{"BUILD_EXCLUSIVE_KERNEL_MAX", {{0, "6.1.0-56-amd64"}}}})).excluded);
  const auto arch = plan(conf_with({{"BUILD_EXCLUSIVE_ARCH", {{0, "^aarch64$"}}}}));
  CHECK(arch.excluded);
  CHECK(arch.exclusion_reasons.at(0) == "arch x86_64 does not match BUILD_EXCLUSIVE_ARCH=\"^aarch64$\"");
}

TEST_CASE("plan: an arm64 kernel built on amd64 gets ARCH and CROSS_COMPILE; DKMS's arch is aarch64") {
  const auto cross = cross_compile_for("aarch64", "x86_64");
  REQUIRE(cross);
  CHECK(cross->make_arch == "arm64");
  CHECK(cross->prefix == "aarch64-linux-gnu-");
  CHECK_FALSE(cross_compile_for("x86_64", "x86_64"));
  CHECK_THROWS_WITH(cross_compile_for("sparc64", "x86_64"),
                    Catch::Contains("sparc64: no cross toolchain is known for building it on x86_64"));

  const std::string release = "6.1.0-57-cloud-arm64";
  const auto conf = conf_with({{"BUILD_EXCLUSIVE_ARCH", {{0, "^aarch64$"}}}});
  DkmsEnvironment env = DkmsEnvironment::for_kernel(release, "aarch64");
  env.parallel_jobs = 2;
  const auto p = plan_build(conf, env, KernelTarget{release, "aarch64", std::nullopt, cross});
  CHECK_FALSE(p.excluded);
  CHECK(p.arch == "aarch64");
  CHECK(p.make_invocation.starts_with("make -j2 ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- KERNELRELEASE=" + release +
                                      " -C /lib/modules/" + release + "/build"));
  const nlohmann::json j = p;
  CHECK(j.at("cross_compile").at("prefix") == "aarch64-linux-gnu-");
  // x86_64-only modules stay excluded on an arm64 kernel, as DKMS on an arm64 host excludes them.
  const auto x86_only = conf_with({{"BUILD_EXCLUSIVE_ARCH", {{0, "x86_64"}}}});
  CHECK(plan_build(x86_only, env, KernelTarget{release, "aarch64", std::nullopt, cross}).excluded);
}

TEST_CASE("plan: DKMS's VER() key") {
  CHECK(dkms_version_key("2.6.9-1cvs200409091247") == "002.006.009-001cvs200409091247");
  CHECK(dkms_version_key("6.1.0-56-amd64") == "006.001.000-056-amd064");
  CHECK(dkms_version_key("6.10") > dkms_version_key("6.9"));
}

TEST_CASE("plan: BUILD_EXCLUSIVE_CONFIG against the kernel's .config") {
  const auto config =
      KernelConfig::parse("CONFIG_PCI=y\nCONFIG_USB=m\n# CONFIG_VIDEO_DEV is not set\nCONFIG_PREEMPT_RT=y\n");
  const auto ok =
      plan(conf_with({{"BUILD_EXCLUSIVE_CONFIG", {{0, "CONFIG_PCI CONFIG_USB"}}}}), "6.1.0-56-amd64", config);
  CHECK_FALSE(ok.excluded);
  const auto missing =
      plan(conf_with({{"BUILD_EXCLUSIVE_CONFIG", {{0, "CONFIG_PCI CONFIG_VIDEO_DEV"}}}}), "6.1.0-56-amd64", config);
  CHECK(missing.excluded);
  CHECK(missing.exclusion_reasons.at(0).starts_with("CONFIG_VIDEO_DEV is not set"));
  CHECK(plan(conf_with({{"BUILD_EXCLUSIVE_CONFIG", {{0, "!CONFIG_PREEMPT_RT"}}}}), "6.1.0-56-amd64", config).excluded);
  // No .config: DKMS does not test BUILD_EXCLUSIVE_CONFIG at all.
  CHECK_FALSE(plan(conf_with({{"BUILD_EXCLUSIVE_CONFIG", {{0, "CONFIG_NOPE"}}}})).excluded);
}

TEST_CASE("plan: clang and LLD kernels") {
  const auto p =
      plan(conf_with({}), "6.1.0-56-amd64", KernelConfig::parse("CONFIG_CC_IS_CLANG=y\nCONFIG_LD_IS_LLD=y\n"));
  CHECK(p.make_command.ends_with(" CC=clang LD=ld.lld"));
}

TEST_CASE("plan: bash regex semantics") {
  CHECK(bash_regex_match("6.1.0-56-amd64", "amd64"));
  CHECK_FALSE(bash_regex_match("6.1.0", "("));  // does not compile: no match
}
