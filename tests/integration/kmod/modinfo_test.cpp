// read_modinfo must agree with kmod's modinfo on the same file.

#include <catch2/catch.hpp>

#include "ckms/kmod/modinfo.hpp"
#include "hello_module.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using namespace ckms::kmod;
using ckms::kmod::test::hello_module;
using ckms::kmod::test::run_ok;

namespace {

// `modinfo -F key` prints one value per line.
std::vector<std::string> kmod_values(const fs::path& file, const std::string& key) {
  const std::string out = run_ok({"modinfo", "-F", key, file.string()});
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < out.size()) {
    const std::size_t end = out.find('\n', start);
    lines.push_back(out.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

std::string kmod_value(const fs::path& file, const std::string& key) {
  const auto values = kmod_values(file, key);
  return values.empty() ? std::string() : values.front();
}

}  // namespace

TEST_CASE("modinfo of the hello module equals kmod's", "[kmod][modinfo]") {
  const fs::path ko = hello_module().ko;
  const ModInfo info = read_modinfo_file(ko);

  REQUIRE(info.name == "ckms_hello");
  REQUIRE(info.name == kmod_value(ko, "name"));
  REQUIRE(info.vermagic == kmod_value(ko, "vermagic"));
  REQUIRE(info.vermagic.starts_with(hello_module().release + " "));
  REQUIRE(info.srcversion == kmod_value(ko, "srcversion"));
  REQUIRE(info.srcversion.size() == 23);
  REQUIRE(info.license == kmod_value(ko, "license"));
  REQUIRE(info.retpoline == kmod_value(ko, "retpoline"));
  REQUIRE(info.intree == kmod_value(ko, "intree"));
  REQUIRE(info.depends.empty());
  REQUIRE(kmod_value(ko, "depends").empty());
  REQUIRE(info.value("version") == kmod_value(ko, "version"));
  REQUIRE(info.value("description") == kmod_value(ko, "description"));

  // kmod prints a parameter as "name:description (type)".
  const auto kmod_parms = kmod_values(ko, "parm");
  REQUIRE(info.parameters.size() == kmod_parms.size());
  REQUIRE(info.parameters.size() == 2);
  for (std::size_t i = 0; i < info.parameters.size(); ++i) {
    const ModuleParameter& p = info.parameters[i];
    REQUIRE(p.name + ":" + p.description + " (" + p.type + ")" == kmod_parms[i]);
  }
  REQUIRE(info.parameters[0].name == "greeting");
  REQUIRE(info.parameters[0].type == "charp");
  REQUIRE(info.parameters[1].name == "repeat");
  REQUIRE(info.parameters[1].type == "int");
}

TEST_CASE("depends= of a module using two in-tree modules equals kmod's", "[kmod][modinfo]") {
  // modpost writes depends= from the headers' Module.symvers: crc_itu_t and crc7_be are
  // exported by the modules crc-itu-t and crc7 in Debian's kernels.
  ckms::testkit::TempDir dir("ckms-kmod-deps");
  ckms::testkit::write_text(dir / "uses_crc.c",
                            "#include <linux/module.h>\n"
                            "#include <linux/crc-itu-t.h>\n"
                            "#include <linux/crc7.h>\n"
                            "static int __init uses_crc_init(void)\n"
                            "{\n"
                            "\tstatic const u8 data[] = { 1, 2, 3 };\n"
                            "\treturn crc_itu_t(0, data, 3) == crc7_be(0, data, 3) ? 0 : 0;\n"
                            "}\n"
                            "module_init(uses_crc_init);\n"
                            "MODULE_LICENSE(\"GPL\");\n");
  ckms::testkit::write_text(dir / "Makefile", "obj-m := uses_crc.o\n");
  run_ok(
      {"make", "-s", "-C", "/usr/src/linux-headers-" + hello_module().release, "M=" + dir.path().string(), "modules"});
  const fs::path ko = dir / "uses_crc.ko";

  const ModInfo info = read_modinfo_file(ko);
  REQUIRE(info.depends.size() == 2);
  std::string joined;
  for (const auto& d : info.depends) joined += (joined.empty() ? "" : ",") + d;
  REQUIRE(joined == kmod_value(ko, "depends"));
  REQUIRE(info.name == "uses_crc");
  REQUIRE(info.parameters.empty());
}
