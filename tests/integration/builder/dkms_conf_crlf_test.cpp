// A dkms.conf written with CRLF line endings, evaluated by ckms's script under bash as the
// build sandbox runs it: the values are those of the same file with LF endings, as DKMS
// (>= 3.1.5, safe_source's `${NAME[i]%$CR}`) reads them.
#include <catch2/catch.hpp>

#include "dkms_corpus.hpp"
#include "testkit.hpp"

using namespace ckms::builder;
namespace testkit = ckms::testkit;

TEST_CASE("evaluation: a CRLF dkms.conf gives the values of its LF twin") {
  const std::string lf =
      "PACKAGE_NAME=\"demo\"\n"
      "PACKAGE_VERSION=1.0\n"
      "\n"
      "MAKE[0]=\"make -C ${kernel_source_dir} M=${dkms_tree}/demo/1.0/build\"\n"
      "CLEAN=\"make clean\"\n"
      "BUILT_MODULE_NAME[0]=demo\n"
      "DEST_MODULE_LOCATION[0]=/updates\n"
      "AUTOINSTALL=yes\n";
  std::string crlf;
  for (const char c : lf) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  testkit::TempDir dir("ckms-crlf");
  std::filesystem::create_directories(dir / "lf");
  std::filesystem::create_directories(dir / "crlf");
  testkit::write_text(dir / "lf/dkms.conf", lf);
  testkit::write_text(dir / "crlf/dkms.conf", crlf);
  const DkmsEnvironment env = DkmsEnvironment::for_kernel("6.1.0-56-amd64");

  const RawVariables from_crlf = corpus::evaluate_with_bash(dir / "crlf", env);
  CHECK(from_crlf == corpus::evaluate_with_bash(dir / "lf", env));
  CHECK(first_value(from_crlf, "MAKE") == "make -C /lib/modules/6.1.0-56-amd64/build M=/var/lib/dkms/demo/1.0/build");
  const DkmsConf conf = resolve_dkms_conf(from_crlf, env);
  CHECK(conf.errors.empty());
  REQUIRE(conf.modules.size() == 1);
  CHECK(conf.modules[0].built_name == "demo");
}
