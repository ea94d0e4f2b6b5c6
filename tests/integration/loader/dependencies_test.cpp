// InTreeModules against a Debian kernel's real /lib/modules (the unpacked linux-image,
// indexed by depmod as its postinst would): the order modprobe would insert, what is
// skipped as loaded or built in, and what is missing.

#include <catch2/catch.hpp>

#include "../../unit/loader/model_kernel.hpp"
#include "ckms/base/error.hpp"
#include "ckms/loader/dependencies.hpp"
#include "guest_kernel.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> names(const std::vector<InTreeModule>& modules) {
  std::vector<std::string> out;
  for (const auto& m : modules) {
    CHECK(fs::exists(m.path));
    out.push_back(m.name);
  }
  return out;
}

}  // namespace

TEST_CASE("in-tree dependencies come from the kernel's modules.dep, dependencies first", "[loader]") {
  const GuestKernel& kernel = guest_kernel(cloud_releases()[1]);
  if (!fs::exists(kernel.modules() / "modules.dep.bin")) {
    run_ok({"depmod", "-b", kernel.root.string(), kernel.release});
  }
  InTreeModules modules(kernel.modules());
  ModelKernel model;
  model.release_ = kernel.release;

  CHECK(names(modules.plan({{"net_failover", "ckms_x"}}, model)) ==
        std::vector<std::string>{"failover", "net_failover"});
  CHECK(names(modules.plan({{"crc-itu-t", "ckms_x"}, {"crc_itu_t", "ckms_y"}}, model)) ==
        std::vector<std::string>{"crc_itu_t"});

  model.loaded["failover"] = {};
  CHECK(names(modules.plan({{"net_failover", "ckms_x"}}, model)) == std::vector<std::string>{"net_failover"});

  // Built in (CONFIG_CRC_CCITT=y): listed in modules.builtin, nothing to insert.
  CHECK(modules.plan({{"crc-ccitt", "ckms_x"}}, model).empty());

  try {
    modules.plan({{"ckms_no_such_module", "ckms_x"}}, model);
    FAIL("planned a module that does not exist");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::refused);
    CHECK_THAT(e.what(), Catch::Contains("missing dependency: module ckms_x needs ckms_no_such_module"));
  }
  InTreeModules none(kernel.root / "no-such-dir");
  CHECK_THROWS_AS(none.plan({{"crc7", "ckms_x"}}, model), Error);
}

}  // namespace ckms::loader::test
