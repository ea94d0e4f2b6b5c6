// dkms.conf habits that DKMS accepts, built for real in the sandbox: a file with CRLF line
// endings, a file that names no module ("Zero modules specified."), and a failure whose
// compiler error is far above the end of the log. With --json the progress still goes to
// stderr, and the UNSIGNED warning comes only when something unsigned was published.

#include <unistd.h>

#include <catch2/catch.hpp>

#include "build_fixture.hpp"
#include "ckms/oci/layout.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder::test;

namespace {

std::string with_crlf(const std::string& text) {
  std::string out;
  for (const char c : text) out += c == '\n' ? std::string("\r\n") : std::string(1, c);
  return out;
}

}  // namespace

TEST_CASE("CRLF dkms.conf builds; zero modules publishes nothing; the first error is carried", "[build][dkms-conf]") {
  const auto& f = build_fixture();
  const std::string& kernel = f.releases[1];
  ckms::testkit::TempDir dir("ckms-build-dkms-conf");
  const std::vector<std::string> common = {"-k",        kernel,        "--image-template",  f.image_template(),
                                           "--no-sign", "--cache-dir", f.cache_dir.string()};
  const auto args = [&](const fs::path& src, const fs::path& out) {
    std::vector<std::string> a = {src.string(), "--output", "oci:" + out.string()};
    a.insert(a.end(), common.begin(), common.end());
    return a;
  };

  // No module: DKMS warns and runs make; ckms publishes nothing and says why.
  const fs::path none = dir / "none";
  copy_hello(none);
  ckms::testkit::write_text(none / "dkms.conf", "PACKAGE_NAME=ckms-none\nPACKAGE_VERSION=1.0\n");
  const BuildRun empty = ckms_build_json(args(none, dir / "out-none"));
  CHECK_BUILD_EXIT(empty, 0);
  const auto& k = empty.kernel(kernel);
  CHECK(k.at("status") == "no-modules");
  CHECK(k.at("warnings") == nlohmann::json::array({"dkms.conf: Warning! Zero modules specified."}));
  CHECK(k.at("modules").empty());
  CHECK(empty.summary.at("counts").at("noModules") == 1);
  CHECK(empty.summary.at("indexes").empty());
  CHECK(ckms::oci::Layout(dir / "out-none", ckms::oci::Layout::Mode::open_existing).tags().empty());
  // Progress on stderr although stdout is JSON; no UNSIGNED warning for nothing published.
  CHECK(empty.result.err.find("[" + kernel + "] building") != std::string::npos);
  CHECK(empty.result.err.find("UNSIGNED") == std::string::npos);

  // CRLF: read as DKMS >= 3.1.5 reads it, so no CR reaches make.
  const fs::path crlf = dir / "crlf";
  copy_hello(crlf);
  ckms::testkit::write_text(
      crlf / "dkms.conf",
      with_crlf(ckms::testkit::read_text(crlf / "dkms.conf") +
                "\nMAKE[0]=\"make -C ${kernel_source_dir} M=${dkms_tree}/ckms-hello/1.0.0/build\"\n"));
  auto crlf_args = args(crlf, dir / "out-crlf");
  crlf_args.insert(crlf_args.begin(), "build");
  const auto built = run_ckms(crlf_args);
  INFO(built.out << built.err);
  CHECK(built.exit_code == 0);
  CHECK(built.out.find(kernel + "  built") != std::string::npos);
  CHECK(built.err.find("the modules are UNSIGNED") != std::string::npos);

  // The compiler's error, then 40 more lines: it is not in the tail, but in the reason.
  const fs::path broken = dir / "broken";
  copy_hello(broken);
  ckms::testkit::write_text(broken / "hello.c",
                            ckms::testkit::read_text(broken / "hello.c") + "#error \"ckms test: first error\"\n");
  ckms::testkit::write_text(broken / "dkms.conf",
                            ckms::testkit::read_text(broken / "dkms.conf") +
                                "MAKE[0]=\"make -C ${kernel_source_dir} M=${dkms_tree}/ckms-hello/1.0.0/build || "
                                "{ seq 1 40; false; }\"\n");
  const BuildRun failed = ckms_build_json(args(broken, dir / "out-broken"));
  CHECK_BUILD_EXIT(failed, 1);
  const auto& fk = failed.kernel(kernel);
  CHECK(fk.at("status") == "failed");
  const std::string first = fk.at("firstError").get<std::string>();
  CHECK(first.find("error: #error \"ckms test: first error\"") != std::string::npos);
  // The compiler's line is not in the tail (only ckms's own reason line quotes it there).
  CHECK(("\n" + fk.at("logTail").get<std::string>() + "\n").find("\n" + first + "\n") == std::string::npos);
  CHECK(fk.at("reason").get<std::string>().find("make failed: ") == 0);
  CHECK(fk.at("reason").get<std::string>().find("ckms test: first error") != std::string::npos);
  CHECK(failed.result.err.find("UNSIGNED") == std::string::npos);
}

TEST_CASE("a --cache-dir the rootful sandbox cannot reach is refused before anything starts", "[build][dkms-conf]") {
  if (::geteuid() != 0) {
    WARN("skipped: rootful sandboxes need root");
    return;
  }
  const auto& f = build_fixture();
  ckms::testkit::TempDir dir("ckms-build-closed");
  fs::permissions(dir.path(), fs::perms::others_exec | fs::perms::group_exec, fs::perm_options::add);
  const fs::path closed = dir / "home";
  fs::create_directories(closed);
  fs::permissions(closed, fs::perms::owner_all, fs::perm_options::replace);  // a 0700 home, like /root
  const fs::path src = dir / "src";
  copy_hello(src);
  const auto r =
      run_ckms({"build", src.string(), "-k", f.releases[1], "--image-template", f.image_template(), "--no-sign",
                "--cache-dir", (closed / "cache").string(), "--output", "oci:" + (dir / "out").string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("the build sandbox's root (host uid") != std::string::npos);
  CHECK(r.err.find("cannot pass through " + closed.string() + ";") != std::string::npos);
  CHECK(r.err.find("setfacl -m u:") != std::string::npos);
  CHECK(r.err.find("permission denied") == std::string::npos);
  CHECK_FALSE(fs::exists(dir / "out"));
}

TEST_CASE("--conf-override is read after dkms.conf in the sandbox, in order, as DKMS reads /etc/dkms",
          "[build][dkms-conf]") {
  const auto& f = build_fixture();
  const std::string& kernel = f.releases[1];
  ckms::testkit::TempDir dir("ckms-test-conf-override");
  copy_hello(dir / "src");
  // A file that sees dkms.conf's values, then an assignment that sees the file's.
  ckms::testkit::write_text(dir / "site.conf", "BUILD_EXCLUSIVE_KERNEL=\"^${PACKAGE_NAME}-\"\n");
  const BuildRun run = ckms_build_json({(dir / "src").string(), "--output", "oci:" + (dir / "out").string(), "-k",
                                        kernel, "--image-template", f.image_template(), "--no-sign", "--cache-dir",
                                        f.cache_dir.string(), "--conf-override", (dir / "site.conf").string(),
                                        "--conf-override", "BUILD_EXCLUSIVE_ARCH=^none$"});
  INFO(run.result.out << run.result.err);
  CHECK(run.result.exit_code == 0);
  const auto& k = run.kernel(kernel);
  CHECK(k.at("status") == "excluded");
  const std::string reason = k.at("reason");
  CHECK(reason.find("BUILD_EXCLUSIVE_KERNEL=\"^ckms-hello-\"") != std::string::npos);
  CHECK(reason.find("BUILD_EXCLUSIVE_ARCH=\"^none$\"") != std::string::npos);

  // Neither an assignment nor a file: one line, exit 2, nothing created.
  const auto bad = run_ckms({"build", (dir / "src").string(), "--output", "oci:" + (dir / "out-bad").string(), "-k",
                             kernel, "--no-sign", "--conf-override", "no such file"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--conf-override 'no such file'") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "out-bad"));
}
