#include "hello_module.hpp"

#include <algorithm>
#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include "testkit.hpp"

namespace ckms::kmod::test {
namespace fs = std::filesystem;

namespace {

// Release names of /usr/src/linux-headers-*-cloud-amd64 trees that can build modules.
std::vector<std::string> cloud_releases() {
  std::vector<std::string> releases;
  const std::string prefix = "linux-headers-";
  const std::string flavour = "-cloud-amd64";
  for (const auto& entry : fs::directory_iterator("/usr/src")) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(prefix) && name.ends_with(flavour) && fs::exists(entry.path() / "Makefile")) {
      releases.push_back(name.substr(prefix.size()));
    }
  }
  std::sort(releases.begin(), releases.end());
  return releases;
}

struct Build {
  testkit::TempDir dir{"ckms-kmod-hello"};
  BuiltModule module;
};

}  // namespace

std::string run_ok(const std::vector<std::string>& argv) {
  const testkit::RunResult result = testkit::run(argv);
  INFO(argv[0] << " exited " << result.exit_code << "\nstdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  return result.out;
}

const BuiltModule& hello_module() {
  static std::unique_ptr<Build> build;
  if (build) return build->module;
  const std::vector<std::string> releases = cloud_releases();
  INFO("no /usr/src/linux-headers-*-cloud-amd64 with a Makefile; run scripts/install-deps.sh");
  REQUIRE(!releases.empty());
  auto b = std::make_unique<Build>();
  b->module.release = releases.back();
  const fs::path src = b->dir / "hello";
  fs::copy(fs::path(CKMS_SOURCE_DIR) / "examples" / "hello", src, fs::copy_options::recursive);
  run_ok({"make", "-s", "-C", "/usr/src/linux-headers-" + b->module.release, "M=" + src.string(), "modules"});
  b->module.ko = src / "ckms_hello.ko";
  REQUIRE(fs::is_regular_file(b->module.ko));
  build = std::move(b);
  return build->module;
}

fs::path sign_file_program() {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator("/usr/lib")) {
    const fs::path candidate = entry.path() / "scripts" / "sign-file";
    if (entry.path().filename().string().starts_with("linux-kbuild-") && fs::exists(candidate)) {
      found.push_back(candidate);
    }
  }
  INFO("no /usr/lib/linux-kbuild-*/scripts/sign-file");
  REQUIRE(!found.empty());
  std::sort(found.begin(), found.end());
  return found.back();
}

KeyPair openssl_req_key(const fs::path& dir, const std::string& name, int bits) {
  const fs::path config = dir / (name + ".genkey");
  testkit::write_text(config,
                      "[ req ]\n"
                      "distinguished_name = dn\n"
                      "prompt = no\n"
                      "string_mask = utf8only\n"
                      "x509_extensions = myexts\n"
                      "[ dn ]\n"
                      "CN = " +
                          name +
                          "\n"
                          "[ myexts ]\n"
                          "basicConstraints=critical,CA:FALSE\n"
                          "keyUsage=digitalSignature\n"
                          "subjectKeyIdentifier=hash\n"
                          "authorityKeyIdentifier=keyid\n");
  KeyPair pair{dir / (name + ".key"), dir / (name + ".crt")};
  run_ok({"openssl", "req", "-new", "-nodes", "-utf8", "-sha256", "-days", "365", "-batch", "-x509", "-config",
          config.string(), "-newkey", "rsa:" + std::to_string(bits), "-keyout", pair.key.string(), "-out",
          pair.cert.string()});
  return pair;
}

std::string read_bytes(const fs::path& file) { return testkit::read_text(file); }

void write_bytes(const fs::path& file, const std::string& bytes) { testkit::write_text(file, bytes); }

}  // namespace ckms::kmod::test
