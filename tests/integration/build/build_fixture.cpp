// Built into temp names and renamed into place, so an interrupted run leaves nothing that a
// later run would take for complete. The mirror comes from the host's apt sources, never
// from a host name written here.

#include "build_fixture.hpp"

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <sstream>

#include <catch2/catch.hpp>

#include "ckms/base/digest.hpp"

namespace ckms::builder::test {
namespace fs = std::filesystem;

namespace {

// What a module build needs (shared/MACHINE.md "Headers and toolchain") plus what DKMS
// itself brings: patch for PATCH[], kmod, and libssl3, which kbuild's sign-file links.
const std::vector<std::string> kToolchainPackages = {"gcc-12",  "make",  "libc6-dev", "libelf-dev",
                                                     "libssl3", "patch", "kmod",      "mawk"};

std::string joined(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

}  // namespace

// The toolchain layer's root filesystem, cached by package list. It is split-/usr: a
// headers layer made from .deb files carries a real /lib (lib/modules/<release>/build),
// which replaces merged-/usr's lib -> usr/lib link when layers are applied, as in every
// OCI runtime, and leaves the image without its dynamic loader.
fs::path toolchain_tar() { return toolchain_tar(kToolchainPackages); }

fs::path toolchain_tar(const std::vector<std::string>& package_list) {
  const std::string packages = joined(package_list, ",");
  const std::string id = ckms::digest_of(packages + " no-merged-usr").hex().substr(0, 12);
  const fs::path target = testkit::download_cache() / ("toolchain-bookworm-" + id + ".tar");
  if (fs::exists(target)) return target;
  const fs::path temp = target.string() + ".tmp.tar";
  testkit::RunOptions options;
  options.timeout_seconds = 1800;
  const auto result = testkit::run(
      {"mmdebstrap", "--mode=unshare", "--variant=minbase", "--hook-dir=/usr/share/mmdebstrap/hooks/no-merged-usr",
       "--include=" + packages, "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
       "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/info/*", "bookworm", temp.string(),
       testkit::debian_sources().string()},
      options);
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  fs::rename(temp, target);
  return target;
}

namespace {

std::vector<std::string> kernel_releases() {
  const auto result = testkit::run({std::string(CKMS_SOURCE_DIR) + "/scripts/kernel-releases.sh", "2"});
  REQUIRE(result.exit_code == 0);
  std::vector<std::string> releases;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) releases.push_back(line);
  }
  INFO("scripts/kernel-releases.sh printed: " << result.out);
  REQUIRE(releases.size() == 2);
  for (const auto& release : releases) {
    INFO("headers of " << release << " are not installed; run scripts/install-deps.sh");
    REQUIRE(fs::exists("/usr/src/linux-headers-" + release + "/Makefile"));
  }
  return releases;
}

struct Shared {
  testkit::TempDir dir{"ckms-build-fixture"};
  BuildFixture fixture;
};

void fill(Shared& shared) {
  BuildFixture& f = shared.fixture;
  f.root = fs::absolute(shared.dir.path());
  fs::permissions(f.root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  f.releases = kernel_releases();
  f.images = f.root / "images";
  f.cache_dir = f.root / "cache";

  std::vector<std::string> args = {"image",           "build",
                                   "--toolchain-tar", toolchain_tar().string(),
                                   "--output",        "oci:" + f.images.string(),
                                   "--apt-cache",     (testkit::download_cache() / "debs").string(),
                                   "--compression",   "zstd"};
  for (const auto& release : f.releases) args.insert(args.end(), {"--kernel", release});
  testkit::RunOptions options;
  options.timeout_seconds = 1800;
  const auto built = run_ckms(args, options);
  INFO(built.out << built.err);
  REQUIRE(built.exit_code == 0);

  f.key = f.root / "signing.key";
  f.cert = f.root / "signing.crt";
  const fs::path config = f.root / "x509.genkey";
  testkit::write_text(config,
                      "[ req ]\ndistinguished_name = dn\nprompt = no\nstring_mask = utf8only\n"
                      "x509_extensions = myexts\n[ dn ]\nCN = ckms build test key\n[ myexts ]\n"
                      "basicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\n"
                      "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");
  const auto req = testkit::run({"openssl", "req", "-new", "-nodes", "-utf8", "-sha256", "-days", "365", "-batch",
                                 "-x509", "-config", config.string(), "-newkey", "rsa:2048", "-keyout", f.key.string(),
                                 "-out", f.cert.string()});
  INFO(req.err);
  REQUIRE(req.exit_code == 0);
  f.signer = "CN = ckms build test key";
}

}  // namespace

const BuildFixture& build_fixture() {
  static std::unique_ptr<Shared> shared;
  if (!shared) {
    auto made = std::make_unique<Shared>();
    fill(*made);
    shared = std::move(made);
  }
  return shared->fixture;
}

testkit::RunResult run_ckms(const std::vector<std::string>& args, const testkit::RunOptions& options) {
  std::vector<std::string> argv = {testkit::ckms_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return testkit::run(argv, options);
}

const nlohmann::json& BuildRun::kernel(const std::string& release) const {
  for (const auto& k : summary.at("kernels")) {
    if (k.at("kernel") == release) return k;
  }
  FAIL("no kernel " << release << " in " << summary.dump(2));
  throw std::logic_error("unreachable");
}

std::string BuildRun::transcript() const {
  std::string text = "ckms --json build " + joined(args, " ") + "\nexit " + std::to_string(result.exit_code) +
                     "\nstdout:\n" + result.out + "\nstderr:\n" + result.err;
  if (!summary.is_object() || !summary.contains("kernels")) return text;
  for (const auto& k : summary.at("kernels")) {
    if (k.value("status", "") != "failed" || !k.contains("log")) continue;
    const fs::path log = k.at("log").get<std::string>();
    std::string content = fs::exists(log) ? testkit::read_text(log) : "(missing)";
    constexpr std::size_t kShown = 32 << 10;
    if (content.size() > kShown) content = "...\n" + content.substr(content.size() - kShown);
    text += "\nbuild log " + log.string() + ":\n" + content;
  }
  return text;
}

BuildRun ckms_build_json(const std::vector<std::string>& args, const testkit::RunOptions& options) {
  std::vector<std::string> argv = {"--json", "build"};
  argv.insert(argv.end(), args.begin(), args.end());
  BuildRun run{args, run_ckms(argv, options), nullptr};
  run.summary = nlohmann::json::parse(run.result.out, nullptr, false);
  if (run.summary.is_discarded()) run.summary = nullptr;
  INFO(run.transcript());
  REQUIRE(run.summary.is_object());
  return run;
}

void copy_hello(const fs::path& dir) {
  fs::copy(fs::path(CKMS_SOURCE_DIR) / "examples/hello", dir, fs::copy_options::recursive);
}

fs::path corpus_tree(const std::string& package) {
  const fs::path cache = testkit::download_cache();
  testkit::RunOptions options;
  options.timeout_seconds = 600;
  const auto fetched = testkit::run(
      {std::string(CKMS_SOURCE_DIR) + "/tests/corpus/fetch-dkms-packages.sh", cache.string(), package}, options);
  INFO(fetched.out << fetched.err);
  REQUIRE(fetched.exit_code == 0);
  const fs::path dir = cache / "dkms-src" / package;
  REQUIRE(fs::exists(dir / ".complete"));
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory()) return entry.path();
  }
  FAIL("no source tree in " << dir);
  return {};
}

fs::path sign_file_program() {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator("/usr/lib")) {
    const fs::path candidate = entry.path() / "scripts/sign-file";
    if (entry.path().filename().string().starts_with("linux-kbuild-") && fs::exists(candidate)) {
      found.push_back(candidate);
    }
  }
  REQUIRE(!found.empty());
  std::sort(found.begin(), found.end());
  return found.back();
}

}  // namespace ckms::builder::test
