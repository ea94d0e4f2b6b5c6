// Kernels that do not build: one that fails next to one that builds, one that dkms.conf
// excludes, one whose image is labelled for another kernel. Each ends on its own; the exit
// status is 1 only when one failed.

#include <catch2/catch.hpp>

#include "build_fixture.hpp"
#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/layout.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder::test;

TEST_CASE("one kernel failing does not stop the other; the summary shows the log's tail", "[build][outcomes]") {
  const auto& f = build_fixture();
  ckms::testkit::TempDir dir("ckms-build-fail");
  const fs::path src = dir / "picky";
  copy_hello(src);
  // Compiles for every kernel but the older one, like a module that lags behind an API.
  ckms::testkit::write_text(src / "Makefile", ckms::testkit::read_text(src / "Makefile") + "ifeq ($(KERNELRELEASE)," +
                                                  f.releases[0] + ")\nccflags-y += -DCKMS_TEST_UNSUPPORTED\nendif\n");
  ckms::testkit::write_text(src / "hello.c", ckms::testkit::read_text(src / "hello.c") +
                                                 "#ifdef CKMS_TEST_UNSUPPORTED\n"
                                                 "#error \"ckms test: this kernel is not supported\"\n#endif\n");
  const fs::path out = dir / "out";
  const auto r =
      run_ckms({"build", src.string(), "-k", f.releases[0], "-k", f.releases[1], "--image-template", f.image_template(),
                "--sign-key", f.key.string(), "--sign-cert", f.cert.string(), "--cache-dir", f.cache_dir.string(),
                "--log-dir", (dir / "logs").string(), "--output", "oci:" + out.string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  // The summary table: one line per kernel with its status and log.
  CHECK(r.out.find(f.releases[0] + "  failed") != std::string::npos);
  CHECK(r.out.find(f.releases[1] + "  built") != std::string::npos);
  CHECK(r.out.find((dir / "logs/ckms-hello-1.0.0" / (f.releases[0] + ".log")).string()) != std::string::npos);
  // The reason and the end of the log, where the compiler's error is.
  CHECK(r.err.find(f.releases[0] + " failed: make failed") != std::string::npos);
  CHECK(r.err.find("---- last lines of") != std::string::npos);
  CHECK(r.err.find("#error \"ckms test: this kernel is not supported\"") != std::string::npos);

  ckms::oci::Layout layout(out, ckms::oci::Layout::Mode::open_existing);
  CHECK(ckms::artifact::published_kernels(layout, "1.0.0") == std::vector<std::string>{f.releases[1]});
  CHECK_THROWS_AS(ckms::artifact::resolve_module(layout, "1.0.0", f.releases[0]), ckms::Error);
}

TEST_CASE("an excluded kernel is reported with its reason, a wrongly labelled image fails", "[build][outcomes]") {
  const auto& f = build_fixture();
  ckms::testkit::TempDir dir("ckms-build-exclude");
  const fs::path src = dir / "newer-only";
  copy_hello(src);
  std::string newer = f.releases[1];
  for (std::size_t at = newer.find('.'); at != std::string::npos; at = newer.find('.', at + 2)) newer.insert(at, "\\");
  ckms::testkit::write_text(
      src / "dkms.conf", ckms::testkit::read_text(src / "dkms.conf") + "BUILD_EXCLUSIVE_KERNEL=\"^" + newer + "$\"\n");
  // A layout whose tag for the newer kernel holds the older kernel's image.
  const fs::path wrong = dir / "wrong";
  const auto copied = run_ckms(
      {"copy", "oci:" + f.images.string() + ":" + f.releases[0], "oci:" + wrong.string() + ":" + f.releases[1]});
  REQUIRE(copied.exit_code == 0);

  const fs::path out = dir / "out";
  const BuildRun run =
      ckms_build_json({src.string(), "--build-image", "oci:" + f.images.string() + ":" + f.releases[0], "--kernel",
                       f.releases[1], "--image-template", "oci:" + wrong.string() + ":{release}", "--no-sign",
                       "--cache-dir", f.cache_dir.string(), "--output", "oci:" + out.string()});
  CHECK_BUILD_EXIT(run, 1);
  REQUIRE(run.summary.at("kernels").size() == 2);
  const auto& excluded = run.kernel(f.releases[0]);
  CHECK(excluded.at("buildImage") == "oci:" + f.images.string() + ":" + f.releases[0]);
  CHECK(excluded.at("status") == "excluded");
  CHECK(excluded.at("exclusionReasons").at(0).get<std::string>().find("BUILD_EXCLUSIVE_KERNEL") != std::string::npos);
  CHECK(excluded.at("plan").at("excluded") == true);
  const auto& mislabelled = run.kernel(f.releases[1]);
  CHECK(mislabelled.at("status") == "failed");
  CHECK(mislabelled.at("reason").get<std::string>().find("labelled io.ckms.kernel.release=" + f.releases[0]) !=
        std::string::npos);
  ckms::oci::Layout layout(out, ckms::oci::Layout::Mode::open_existing);
  CHECK(layout.tags().empty());

  // Excluded alone is success.
  const BuildRun only_excluded =
      ckms_build_json({src.string(), "--build-image", "oci:" + f.images.string() + ":" + f.releases[0], "--no-sign",
                       "--cache-dir", f.cache_dir.string(), "--output", "oci:" + out.string()});
  CHECK_BUILD_EXIT(only_excluded, 0);
  CHECK(only_excluded.summary.at("counts").at("excluded") == 1);
}
