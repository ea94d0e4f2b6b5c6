#include "faults_support.hpp"

#include <cstdlib>
#include <random>

#include <catch2/catch.hpp>

#include "ckms/base/digest.hpp"
#include "ckms/oci/layout.hpp"

namespace ckms::faults {
namespace fs = std::filesystem;

testkit::RegistryFixture& registry() {
  static testkit::RegistryFixture fixture(testkit::RegistrySetup::open_http);
  return fixture;
}

int registry_port() {
  const std::string host = registry().host();
  return std::stoi(host.substr(host.rfind(':') + 1));
}

oci::RegistryOptions fast_options() {
  oci::RegistryOptions options = registry().options();
  options.initial_backoff = std::chrono::milliseconds(50);
  options.max_backoff = std::chrono::milliseconds(500);
  options.stall_timeout = std::chrono::seconds(1);
  return options;
}

oci::RegistryReference via(const std::string& authority, const std::string& repository) {
  oci::RegistryReference ref;
  ref.registry = authority;
  ref.repository = repository;
  return ref;
}

namespace {

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(random() & 0xff);
  return out;
}

}  // namespace

const Material& material() {
  static testkit::TempDir dir("ckms-faults-material");
  static const Material made = [] {
    Material m;
    m.files_dir = dir / "files";
    fs::create_directories(m.files_dir);
    m.names = {"large.bin", "medium.bin", "small.txt"};
    testkit::write_text(m.files_dir / "large.bin", random_bytes(3 << 19, 1));
    testkit::write_text(m.files_dir / "medium.bin", random_bytes(200 << 10, 2));
    testkit::write_text(m.files_dir / "small.txt", "small file\n");
    m.layout = dir / "layout";
    std::vector<std::string> push = {"push", "oci:" + m.layout.string() + ":v1", "--artifact-type",
                                     "application/vnd.ckms.test.v1"};
    for (const auto& name : m.names) push.push_back((m.files_dir / name).string());
    const auto pushed = run_ckms(push);
    REQUIRE(pushed.exit_code == 0);
    oci::Layout layout(m.layout, oci::Layout::Mode::open_existing);
    m.root = layout.resolve("v1");
    const auto copied =
        run_ckms({"copy", "--plain-http", "oci:" + m.layout.string() + ":v1", registry().host() + "/faults/src:v1"});
    INFO(copied.err);
    REQUIRE(copied.exit_code == 0);
    return m;
  }();
  return made;
}

artifact::BuiltModuleSet module_set(const fs::path& dir, const std::string& version, const std::string& release) {
  const fs::path files = dir / ("files-" + version + "-" + release);
  fs::create_directories(files);
  testkit::write_text(files / "faulty.ko", random_bytes(300 << 10, static_cast<unsigned>(release.size())) + release);
  artifact::ModuleConfig config{.name = "faulty", .version = version, .kernel_release = release};
  config.files = {artifact::ModuleFile{
      .file_name = "faulty.ko", .module_name = "faulty", .vermagic = release + " SMP mod_unload "}};
  config.provenance.ckms_version = "test";
  config.provenance.created = "2026-01-01T00:00:00Z";
  return artifact::BuiltModuleSet{.config = config, .files_dir = files, .cache_key = "cache-" + release};
}

std::vector<std::string> registry_problems() {
  std::vector<std::string> problems;
  const fs::path blobs = registry().storage() / "docker/registry/v2/blobs/sha256";
  if (!fs::exists(blobs)) return problems;
  for (const auto& prefix : fs::directory_iterator(blobs)) {
    for (const auto& blob : fs::directory_iterator(prefix.path())) {
      const fs::path data = blob.path() / "data";
      if (!fs::exists(data)) continue;
      const auto digest = ckms::digest_of_file(data);
      if (digest.hex() != blob.path().filename().string()) {
        problems.push_back("registry blob " + blob.path().filename().string() + " holds " + digest.str());
      }
    }
  }
  return problems;
}

std::vector<std::string> temp_files(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if ((name.starts_with(".") && name != ".lock" && name != ".index.lock") || name.ends_with(".tmp") ||
        name.ends_with(".partial")) {
      out.push_back(entry.path().string());
    }
  }
  return out;
}

std::vector<std::string> layout_problems(const fs::path& layout) {
  std::vector<std::string> problems;
  if (!fs::exists(layout / "oci-layout")) return problems;
  const auto verified = run_ckms({"verify", "oci:" + layout.string()});
  if (verified.exit_code != 0) problems.push_back("ckms verify: " + verified.out + verified.err);
  for (const auto& file : temp_files(layout / "blobs")) problems.push_back("left over: " + file);
  return problems;
}

testkit::RunResult run_ckms(const std::vector<std::string>& args, int timeout_seconds) {
  std::vector<std::string> argv = {testkit::ckms_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  testkit::RunOptions options;
  options.timeout_seconds = timeout_seconds;
  // No credential files of the machine's user.
  options.env["HOME"] = "/nonexistent";
  options.env["XDG_RUNTIME_DIR"] = "/nonexistent";
  options.env["REGISTRY_AUTH_FILE"] = "/nonexistent/auth.json";
  return testkit::run(argv, options);
}

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoi(value) : fallback;
}

}  // namespace ckms::faults
