// Every real dkms.conf of the corpus, read three ways: ckms's sandbox script (run by bash
// here), DKMS's own read_conf, and ckms's static reader. The first two must agree on
// every value DKMS acts on; the static reader must never disagree, and must flag exactly
// the files that hold shell logic.
#include <catch2/catch.hpp>

#include <set>

#include "ckms/builder/build_plan.hpp"
#include "ckms/builder/dkms_conf_static.hpp"
#include "ckms/builder/lint.hpp"
#include "dkms_corpus.hpp"
#include "testkit.hpp"

using namespace ckms::builder;
namespace testkit = ckms::testkit;
namespace fs = std::filesystem;

namespace {

constexpr const char* kKernel = "6.1.0-56-amd64";

// A generic-flavour .config with what the corpus asks for, and a cloud-like one without
// media, USB, DRM or backlight support.
const std::string kGenericConfig =
    "CONFIG_PCI=y\nCONFIG_USB=y\nCONFIG_ACPI=y\nCONFIG_I2C=y\nCONFIG_DRM=m\nCONFIG_HWMON=y\n"
    "CONFIG_USB_HID=m\nCONFIG_VIDEO_DEV=m\nCONFIG_VIDEO_V4L2=m\nCONFIG_BACKLIGHT_CLASS_DEVICE=y\n"
    "CONFIG_MODULES=y\n";
const std::string kCloudConfig =
    "CONFIG_PCI=y\nCONFIG_ACPI=y\n# CONFIG_USB is not set\n# CONFIG_VIDEO_DEV is not set\n"
    "CONFIG_MODULES=y\nCONFIG_PREEMPT_RT=y\n";

const std::set<std::string> kWithShellLogic = {"ddcci-dkms",         "digimend-dkms",        "iptables-netflow-dkms",
                                               "lttng-modules-dkms", "openafs-modules-dkms", "v4l2loopback-dkms",
                                               "west-chamber-dkms"};

DkmsEnvironment environment_for(const corpus::Package& p, const fs::path& kernel_dir) {
  DkmsEnvironment env = DkmsEnvironment::for_kernel(kKernel);
  env.kernel_source_dir = kernel_dir.string();
  // `dkms add` takes module and version from the file: read them first, as lint does.
  const auto first = parse_dkms_conf_static_file(p.tree / "dkms.conf", env);
  env.module = first_value(first.variables, "PACKAGE_NAME");
  env.module_version = first_value(first.variables, "PACKAGE_VERSION");
  return env;
}

std::string get(const RawVariables& raw, const std::string& name, std::size_t index = 0) {
  const auto it = raw.find(name);
  if (it == raw.end()) return {};
  const auto e = it->second.find(index);
  return e == it->second.end() ? std::string() : e->second;
}

struct Evaluated {
  DkmsConf conf;
  BuildPlan plan;
};

Evaluated evaluate(const corpus::Package& p, const DkmsEnvironment& env, const std::string& config) {
  const RawVariables raw = corpus::evaluate_with_bash(p.tree, env);
  Evaluated e{resolve_dkms_conf(raw, env), {}};
  e.plan = plan_build(e.conf, env, KernelTarget{kKernel, "x86_64", KernelConfig::parse(config)});
  return e;
}

const std::vector<corpus::Package>& all_packages() {
  static const std::vector<corpus::Package> found = corpus::packages();
  return found;
}

const corpus::Package* find_package(const std::string& name) {
  for (const auto& p : all_packages()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("corpus: sandbox evaluation gives what DKMS's read_conf gives") {
  const auto& packages = all_packages();
  if (packages.empty()) {
    WARN("no corpus: the Debian archive is not reachable");
    return;
  }
  CHECK(packages.size() >= 9);
  testkit::TempDir scratch("ckms-corpus");
  for (const auto& [flavour, config] : {std::pair{"generic", kGenericConfig}, std::pair{"cloud", kCloudConfig}}) {
    const fs::path kernel_dir = corpus::fake_kernel_dir(scratch.path(), flavour, config);
    for (const auto& p : packages) {
      INFO(p.name << " with the " << flavour << " .config");
      const DkmsEnvironment env = environment_for(p, kernel_dir);
      const auto reference = corpus::dkms_read_conf(p.tree, env);
      if (!reference) {
        WARN("/usr/sbin/dkms is not installed: nothing to compare with");
        return;
      }
      const Evaluated e = evaluate(p, env, config);
      const RawVariables& dkms = *reference;
      CHECK((get(dkms, "rc") == "0") == e.conf.errors.empty());
      CHECK(get(dkms, "package_name") == e.conf.package_name);
      CHECK(get(dkms, "package_version") == e.conf.package_version);
      CHECK(get(dkms, "make_command") == e.plan.make_command);
      CHECK(get(dkms, "clean") == e.plan.clean_command);
      CHECK(get(dkms, "pre_build") == e.plan.pre_build);
      CHECK(get(dkms, "post_build") == e.plan.post_build);
      CHECK((get(dkms, "build_exclude") == "yes") == e.plan.excluded);
      const auto records = dkms.contains("built_module_name") ? dkms.at("built_module_name").size() : 0;
      REQUIRE(records == e.conf.modules.size());
      for (const auto& m : e.conf.modules) {
        INFO("module record " << m.index);
        CHECK(get(dkms, "built_module_name", m.index) == m.built_name);
        CHECK(get(dkms, "built_module_location", m.index) == m.built_location);
        CHECK(get(dkms, "dest_module_name", m.index) == m.dest_name);
        CHECK(get(dkms, "dest_module_location", m.index) == m.install_location);
        CHECK((get(dkms, "strip", m.index) != "no") == m.strip);
      }
      std::vector<std::string> patches;
      if (dkms.contains("patch_array")) {
        for (const auto& [i, v] : dkms.at("patch_array")) patches.push_back(v);
      }
      CHECK(patches == e.plan.patches);
    }
  }
}

TEST_CASE("corpus: the static reader agrees with evaluation and flags exactly the shell logic") {
  const auto& packages = all_packages();
  if (packages.empty()) return;
  testkit::TempDir scratch("ckms-corpus");
  const fs::path kernel_dir = corpus::fake_kernel_dir(scratch.path(), "generic", kGenericConfig);
  std::set<std::string> flagged;
  for (const auto& p : packages) {
    INFO(p.name);
    const DkmsEnvironment env = environment_for(p, kernel_dir);
    const StaticParseResult statically = parse_dkms_conf_static_file(p.tree / "dkms.conf", env);
    const RawVariables evaluated = corpus::evaluate_with_bash(p.tree, env);
    if (!statically.exact()) flagged.insert(p.name);
    if (statically.exact()) {
      CHECK(statically.variables == evaluated);
    } else {
      // What it does claim to know is right.
      for (const auto& [name, array] : statically.variables) {
        INFO(name);
        REQUIRE(evaluated.contains(name));
        CHECK(evaluated.at(name) == array);
      }
    }
  }
  std::set<std::string> expected;
  for (const auto& name : kWithShellLogic) {
    if (find_package(name) != nullptr) expected.insert(name);
  }
  CHECK(flagged == expected);
}

TEST_CASE("corpus: values checked by reading the files") {
  if (all_packages().empty()) return;
  testkit::TempDir scratch("ckms-corpus");
  const fs::path generic = corpus::fake_kernel_dir(scratch.path(), "generic", kGenericConfig);
  const fs::path cloud = corpus::fake_kernel_dir(scratch.path(), "cloud", kCloudConfig);
  const auto with = [&](const std::string& name, const fs::path& kernel_dir, const std::string& config) {
    const corpus::Package* p = find_package(name);
    REQUIRE(p != nullptr);
    return evaluate(*p, environment_for(*p, kernel_dir), config);
  };

  SECTION("v4l2loopback: one module, MAKE with KERNEL_DIR, excluded without V4L2") {
    const auto e = with("v4l2loopback-dkms", generic, kGenericConfig);
    REQUIRE(e.conf.modules.size() == 1);
    CHECK(e.conf.modules[0].built_name == "v4l2loopback");
    CHECK(e.conf.modules[0].dest_location == "/extra");
    CHECK(e.plan.make_command == "make KERNEL_DIR=" + generic.string() + " all");
    CHECK(e.plan.make_invocation == "make -j1 KERNELRELEASE=6.1.0-56-amd64 KERNEL_DIR=" + generic.string() + " all");
    CHECK_FALSE(e.plan.excluded);
    const auto c = with("v4l2loopback-dkms", cloud, kCloudConfig);
    CHECK(c.conf.build_exclusive_kernel == "REQUIRES CONFIG_VIDEO_DEV");
    CHECK(c.plan.excluded);
  }
  SECTION("dahdi: 32 modules under drivers/dahdi, a subshell MAKE, BUILD_EXCLUSIVE_KERNEL") {
    const auto e = with("dahdi-dkms", generic, kGenericConfig);
    REQUIRE(e.conf.modules.size() == 32);
    CHECK(e.conf.modules[0].built_name == "dahdi_dummy");
    CHECK(e.conf.modules[0].built_location == "drivers/dahdi/");
    CHECK(e.conf.modules[0].dest_location == "/kernel/drivers/telephony/dahdi");
    CHECK(e.plan.make_command ==
          "(make modules KVERS=6.1.0-56-amd64 MODULES_EXTRA='dahdi_dummy dahdi_echocan_oslec'; make "
          "KVERS=6.1.0-56-amd64)");
    CHECK(e.conf.build_exclusive_kernel == "^(5\\.[6-9]\\.|5\\.[1-9][0-9]\\.|[6-9]\\.)");
    CHECK(e.conf.build_exclusive_config == "CONFIG_PCI CONFIG_USB");
    CHECK_FALSE(e.plan.excluded);
    CHECK(with("dahdi-dkms", cloud, kCloudConfig).plan.excluded);  // no CONFIG_USB
  }
  SECTION("jool: the three-line MAKE is joined with single spaces") {
    const auto e = with("jool-dkms", generic, kGenericConfig);
    const std::string m = "make -C " + generic.string() + " M=/var/lib/dkms/jool-dkms/4.1.9/build/src/mod/";
    CHECK(e.plan.make_command == m + "common modules && " + m + "nat64 modules && " + m + "siit modules");
    REQUIRE(e.conf.modules.size() == 3);
    CHECK(e.conf.modules[2].built_name == "jool_siit");
    CHECK(e.conf.modules[2].built_location == "src/mod/siit/");
  }
  SECTION("rtpengine: the quotes around the version vanish in DKMS's second reading") {
    const auto e = with("rtpengine-kernel-dkms", generic, kGenericConfig);
    CHECK(e.plan.make_command.ends_with("/var/lib/dkms/rtpengine/10.5.3.5/build RTPENGINE_VERSION=10.5.3.5"));
  }
  SECTION("bbswitch: BUILT_MODULE_NAME from PACKAGE_NAME, DKMS's default make") {
    const auto e = with("bbswitch-dkms", generic, kGenericConfig);
    REQUIRE(e.conf.modules.size() == 1);
    CHECK(e.conf.modules[0].built_name == "bbswitch");
    CHECK(e.plan.make_command == "make -C " + generic.string() + " M=/var/lib/dkms/bbswitch/0.8/build");
  }
  SECTION("iptables-netflow: STRIP no, PRE_BUILD configure") {
    const auto e = with("iptables-netflow-dkms", generic, kGenericConfig);
    CHECK(e.conf.package_version == "2.6");
    REQUIRE(e.conf.modules.size() == 1);
    CHECK_FALSE(e.conf.modules[0].strip);
    CHECK(e.plan.make_command == "make ipt_NETFLOW.ko");
    CHECK(e.conf.pre_build.starts_with("./configure --from-dkms-conf=" + generic.string()));
  }
  SECTION("openafs: excluded on PREEMPT_RT, MAKE computed by shell logic") {
    const auto e = with("openafs-modules-dkms", generic, kGenericConfig);
    CHECK(e.plan.make_command.starts_with(
        "(./configure --disable-linux-syscall-probing --with-afs-sysname=amd64_linux26"));
    CHECK(with("openafs-modules-dkms", cloud, kCloudConfig).plan.excluded);
  }
  SECTION("dm-writeboost: scalar MAKE and module, BUILD_EXCLUSIVE_KERNEL_MIN") {
    const auto e = with("dm-writeboost-dkms", generic, kGenericConfig);
    CHECK(e.conf.build_exclusive_kernel_min == "3.9");
    CHECK(e.plan.make_command == "make all KERNEL_TREE=" + generic.string() + " V=1");
    CHECK(e.conf.modules.at(0).dest_location == "/kernel/drivers/md");
    CHECK_FALSE(e.plan.excluded);
  }
  SECTION("lttng-modules: modules chosen by kernel version and .config") {
    const auto e = with("lttng-modules-dkms", generic, kGenericConfig);
    CHECK(e.conf.modules.size() == 28);
    CHECK(e.conf.modules[0].built_name == "lttng-lib-ring-buffer");
    CHECK(e.conf.modules[0].built_location == "src/lib/");
  }
}

TEST_CASE("corpus: lint reads every tree without errors") {
  for (const auto& p : all_packages()) {
    INFO(p.name);
    const LintReport report = lint(p.tree);
    CHECK(report.buildable());
    CHECK(report.exact == !kWithShellLogic.contains(p.name));
  }
}
