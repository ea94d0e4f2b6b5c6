// examples/hello through `ckms build` for both kernels: what the artifacts hold (checked
// with kmod's modinfo and the kernel's sign-file), that an unchanged re-run builds nothing,
// and that a changed source builds again.

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <catch2/catch.hpp>

#include "build_fixture.hpp"
#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/io.hpp"
#include "ckms/kmod/signature.hpp"
#include "ckms/oci/layout.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder::test;
using ckms::testkit::run;

namespace {

std::string layer_bytes(ckms::oci::Target& target, const ckms::oci::Descriptor& layer) {
  auto reader = target.fetch(layer);
  return ckms::read_all(*reader, 64 << 20, layer.digest.str());
}

std::string modinfo_field(const fs::path& module, const std::string& field) {
  const auto r = run({"modinfo", "-F", field, module.string()});
  REQUIRE(r.exit_code == 0);
  return r.out.substr(0, r.out.find('\n'));
}

// The version of `package` installed in the build image a kernel was built with.
std::string package_version(const fs::path& cache_dir, const nlohmann::json& kernel, const std::string& package) {
  const auto digest = ckms::Digest::parse(kernel.at("buildImageDigest").get<std::string>());
  const fs::path status = cache_dir / "unpack" / "sha256" / digest.hex() / "rootfs/var/lib/dpkg/status";
  const std::string text = ckms::testkit::read_text(status);
  const auto at = text.find("\nPackage: " + package + "\n");
  REQUIRE(at != std::string::npos);
  const auto version = text.find("\nVersion: ", at + 1);
  REQUIRE(version != std::string::npos);
  const auto start = version + 10;
  return text.substr(start, text.find('\n', start) - start);
}

// `dkms build` of examples/hello with the fixture's key, in a mount namespace whose
// /var/lib/dkms is a fresh tmpfs: DKMS's own paths, and the host's tree untouched.
std::string dkms_build(const fs::path& dir, const std::string& release, const BuildFixture& f) {
  fs::create_directories(dir / "src");
  fs::create_directories(dir / "install");
  copy_hello(dir / "src/ckms-hello-1.0.0");
  const std::string trees = " --sourcetree " + (dir / "src").string() + " --installtree " + (dir / "install").string();
  const std::string keys = "mok_signing_key=" + f.key.string() + " mok_certificate=" + f.cert.string();
  const auto r = run({"unshare", "--mount", "sh", "-c",
                      "set -e; mount -t tmpfs ckms-test /var/lib/dkms; " + keys + " dkms add -m ckms-hello -v 1.0.0" +
                          trees + "; " + keys + " dkms build -m ckms-hello -v 1.0.0 -k " + release + trees +
                          "; cp /var/lib/dkms/ckms-hello/1.0.0/" + release + "/x86_64/module/ckms_hello.ko " +
                          (dir / "dkms.ko").string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return ckms::testkit::read_text(dir / "dkms.ko");
}

std::int64_t mtime_ns(const fs::path& file) {
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  return st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
}

}  // namespace

TEST_CASE("hello for two kernels: the bytes of sign-file and dkms, resolvable, a no-op re-run, a rebuild on change",
          "[build][hello]") {
  const auto& f = build_fixture();
  ckms::testkit::TempDir dir("ckms-build-hello");
  copy_hello(dir / "hello");
  const fs::path out = dir / "out";
  const std::vector<std::string> args = {
      (dir / "hello").string(), "--kernel",         f.releases[0],        "--kernel",     f.releases[1],
      "--image-template",       f.image_template(), "--sign-key",         f.key.string(), "--sign-cert",
      f.cert.string(),          "--cache-dir",      f.cache_dir.string(), "--output",     "oci:" + out.string()};

  const BuildRun first = ckms_build_json(args);
  REQUIRE_BUILD_EXIT(first, 0);
  CHECK(first.summary.at("signed") == true);
  CHECK(first.summary.at("counts").at("built") == 2);
  REQUIRE(first.summary.at("indexes").size() == 1);

  ckms::oci::Layout layout(out, ckms::oci::Layout::Mode::open_existing);
  std::map<std::string, ckms::Digest> manifests;
  std::map<std::string, std::int64_t> log_times;
  for (const auto& release : f.releases) {
    INFO(release);
    const auto& k = first.kernel(release);
    CHECK(k.at("status") == "built");
    CHECK(k.at("name") == "ckms-hello");
    CHECK(k.at("version") == "1.0.0");
    CHECK(k.at("plan").at("make_invocation").get<std::string>().find("KERNELRELEASE=" + release) != std::string::npos);
    const fs::path log = k.at("log").get<std::string>();
    CHECK(ckms::testkit::read_text(log).find("LD [M]") != std::string::npos);
    log_times[release] = mtime_ns(log);

    const auto resolved = ckms::artifact::resolve_module(layout, "1.0.0", release);
    manifests.emplace(release, resolved.manifest_descriptor.digest);
    CHECK(resolved.cache_key == k.at("cacheKey").get<std::string>());
    CHECK(resolved.config.name == "ckms-hello");
    CHECK(resolved.config.kernel_release == release);
    CHECK(resolved.config.arch == "x86_64");
    REQUIRE(resolved.config.files.size() == 1);
    const auto& file = resolved.config.files[0];
    CHECK(file.file_name == "ckms_hello.ko");
    CHECK(file.module_name == "ckms_hello");
    CHECK(file.signer == f.signer);
    CHECK(file.install_location == "/updates/dkms");
    // The module, and the build's Module.symvers for packages built against this one.
    REQUIRE(resolved.manifest.layers.size() == 2);
    CHECK(resolved.manifest.layers[0].annotation("org.opencontainers.image.title") == "ckms_hello.ko");
    CHECK(resolved.manifest.layers[1].annotation("org.opencontainers.image.title") == "Module.symvers");

    // The published bytes, read by the kernel's own tools.
    const std::string signed_module = layer_bytes(layout, resolved.manifest.layers[0]);
    const fs::path module = dir / (release + ".ko");
    ckms::testkit::write_text(module, signed_module);
    CHECK(modinfo_field(module, "vermagic").starts_with(release + " "));
    CHECK(modinfo_field(module, "vermagic") == file.vermagic);
    CHECK(modinfo_field(module, "name") == "ckms_hello");
    CHECK(modinfo_field(module, "srcversion") == file.srcversion);
    CHECK(modinfo_field(module, "signer") == "ckms build test key");

    // sign-file on the same unsigned module with the same key gives the same bytes.
    const fs::path resigned = dir / (release + ".resigned.ko");
    ckms::testkit::write_text(resigned, std::string(ckms::kmod::strip_signature(signed_module, "published module")));
    const auto sign = run({sign_file_program().string(), "sha256", f.key.string(), f.cert.string(), resigned.string()});
    REQUIRE(sign.exit_code == 0);
    CHECK(ckms::testkit::read_text(resigned) == signed_module);
  }
  const auto kernels = ckms::artifact::published_kernels(layout, "1.0.0");
  CHECK(kernels.size() == 2);

  {  // DKMS itself, on the host with the same headers and key, builds the same bytes.
    const std::string release = f.releases[1];
    const std::string image_gcc = package_version(f.cache_dir, first.kernel(release), "gcc-12");
    const auto host_gcc = run({"dpkg-query", "-W", "-f", "${Version}", "gcc-12"});
    if (::geteuid() != 0 || host_gcc.exit_code != 0 || host_gcc.out != image_gcc) {
      WARN("skipped the comparison with dkms: needs root and the image's gcc-12 " << image_gcc << " on the host");
    } else {
      const auto dkms = dkms_build(dir / "dkms", release, f);
      const auto resolved = ckms::artifact::resolve_module(layout, "1.0.0", release);
      CHECK(dkms == layer_bytes(layout, resolved.manifest.layers[0]));
    }
  }

  {  // An unchanged re-run builds nothing.
    const auto start = std::chrono::steady_clock::now();
    const BuildRun again = ckms_build_json(args);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    REQUIRE_BUILD_EXIT(again, 0);
    CHECK(again.summary.at("counts").at("upToDate") == 2);
    CHECK(again.summary.at("counts").at("built") == 0);
    // That nothing was built shows in the counts and the untouched logs; its time is only
    // reported, since a loaded host may take any time.
    WARN("no-op re-run for 2 kernels: " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                                        << " ms");
    for (const auto& release : f.releases) {
      const auto& k = again.kernel(release);
      CHECK(k.at("status") == "up-to-date");
      CHECK(k.at("artifact").at("digest") == manifests.at(release).str());
      CHECK(k.at("modules").at(0).at("file") == "ckms_hello.ko");
      CHECK(mtime_ns(k.at("log").get<std::string>()) == log_times.at(release));
      CHECK(ckms::artifact::resolve_module(layout, "1.0.0", release).manifest_descriptor.digest ==
            manifests.at(release));
    }
  }

  {  // An unsigned build is the signed module without its signature.
    const fs::path unsigned_out = dir / "unsigned";
    const auto text =
        run_ckms({"build", (dir / "hello").string(), "--kernel", f.releases[1], "--image-template", f.image_template(),
                  "--no-sign", "--cache-dir", f.cache_dir.string(), "--output", "oci:" + unsigned_out.string()});
    INFO(text.out << text.err);
    REQUIRE(text.exit_code == 0);
    CHECK(text.err.find("UNSIGNED") != std::string::npos);
    ckms::oci::Layout unsigned_layout(unsigned_out, ckms::oci::Layout::Mode::open_existing);
    const auto plain = ckms::artifact::resolve_module(unsigned_layout, "1.0.0", f.releases[1]);
    REQUIRE(plain.config.files.size() == 1);
    CHECK(plain.config.files[0].signer.empty());
    const std::string unsigned_module = layer_bytes(unsigned_layout, plain.manifest.layers[0]);
    CHECK_FALSE(ckms::kmod::split_signature(unsigned_module, "unsigned"));
    const auto signed_ = ckms::artifact::resolve_module(layout, "1.0.0", f.releases[1]);
    const std::string signed_module = layer_bytes(layout, signed_.manifest.layers[0]);
    CHECK(ckms::kmod::strip_signature(signed_module, "signed") == unsigned_module);
  }
  {  // A changed source builds again.
    std::string code = ckms::testkit::read_text(dir / "hello/hello.c");
    code.replace(code.find("\"hello\""), 7, "\"hallo\"");
    ckms::testkit::write_text(dir / "hello/hello.c", code);
    const BuildRun changed = ckms_build_json(args);
    REQUIRE_BUILD_EXIT(changed, 0);
    CHECK(changed.summary.at("counts").at("built") == 2);
    for (const auto& release : f.releases) {
      const auto& k = changed.kernel(release);
      CHECK(k.at("cacheKey") != first.kernel(release).at("cacheKey"));
      CHECK(ckms::artifact::resolve_module(layout, "1.0.0", release).manifest_descriptor.digest !=
            manifests.at(release));
    }
  }
}
