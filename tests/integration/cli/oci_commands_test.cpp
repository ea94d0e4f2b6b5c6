// The registry and layout commands driven as a user drives them: the real ckms binary,
// real skopeo and umoci on the other side, and checks on the bytes that come out.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/base/digest.hpp"
#include "ckms/oci/layout.hpp"
#include "registry_fixture.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;
using ckms::testkit::run;
using ckms::testkit::RunResult;
using ckms::testkit::TempDir;

namespace {

RunResult run_ckms(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), ckms::testkit::ckms_binary().string());
  ckms::testkit::RunOptions options;
  if (!input.empty()) options.input = input;
  return run(args, options);
}

void require_ok(const RunResult& r) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
}

// An artifact of two files pushed into an OCI layout with ckms; returns the layout dir.
fs::path push_example(const TempDir& dir) {
  ckms::testkit::write_text(dir / "hello.ko", std::string(100000, 'k'));
  ckms::testkit::write_text(dir / "README", "read me\n");
  require_ok(run_ckms({"push", "oci:" + (dir / "layout").string() + ":v1", (dir / "hello.ko").string(),
                       (dir / "README").string(), "--artifact-type", "application/vnd.ckms.test.v1"}));
  return dir / "layout";
}

}  // namespace

TEST_CASE("push then pull an artifact through an OCI layout round-trips the files") {
  TempDir dir("ckms-test-");
  const auto layout = push_example(dir);
  auto pulled = run_ckms({"--json", "pull", "oci:" + layout.string() + ":v1", "-o", (dir / "out").string()});
  require_ok(pulled);
  CHECK(ckms::testkit::read_text(dir / "out" / "hello.ko") == std::string(100000, 'k'));
  CHECK(ckms::testkit::read_text(dir / "out" / "README") == "read me\n");
  const auto report = nlohmann::json::parse(pulled.out);
  CHECK(report["files"].size() == 2);

  auto inspect = run_ckms({"--json", "inspect", "oci:" + layout.string() + ":v1"});
  require_ok(inspect);
  const auto doc = nlohmann::json::parse(inspect.out);
  CHECK(doc["manifest"]["artifactType"] == "application/vnd.ckms.test.v1");
  CHECK(doc["manifest"]["layers"][0]["annotations"]["org.opencontainers.image.title"] == "hello.ko");

  auto tags = run_ckms({"tags", "oci:" + layout.string()});
  require_ok(tags);
  CHECK(tags.out == "v1\n");
  require_ok(run_ckms({"verify", "oci:" + layout.string()}));
}

TEST_CASE("skopeo and ckms read each other's layouts with identical digests") {
  if (!ckms::testkit::have_program("skopeo")) FAIL("skopeo is not installed (scripts/install-deps.sh)");
  TempDir dir("ckms-test-");
  const auto layout = push_example(dir);
  const auto ours = run_ckms({"inspect", "--raw", "oci:" + layout.string() + ":v1"});
  require_ok(ours);

  // skopeo reads what ckms wrote, byte for byte.
  const auto theirs = run({"skopeo", "inspect", "--raw", "oci:" + layout.string() + ":v1"});
  REQUIRE(theirs.exit_code == 0);
  CHECK(theirs.out == ours.out);

  // skopeo copies it on; ckms reads the copy and finds the same manifest digest.
  const auto copied =
      run({"skopeo", "copy", "oci:" + layout.string() + ":v1", "oci:" + (dir / "by-skopeo").string() + ":v1"});
  INFO(copied.err);
  REQUIRE(copied.exit_code == 0);
  const auto back = run_ckms({"inspect", "--raw", "oci:" + (dir / "by-skopeo").string() + ":v1"});
  require_ok(back);
  CHECK(ckms::digest_of(back.out) == ckms::digest_of(ours.out));

  // ckms copies skopeo's copy; skopeo inspects ckms's copy unchanged.
  require_ok(
      run_ckms({"copy", "oci:" + (dir / "by-skopeo").string() + ":v1", "oci:" + (dir / "by-ckms").string() + ":v2"}));
  const auto final_raw = run({"skopeo", "inspect", "--raw", "oci:" + (dir / "by-ckms").string() + ":v2"});
  REQUIRE(final_raw.exit_code == 0);
  CHECK(final_raw.out == ours.out);
}

TEST_CASE("an image umoci builds is copied by ckms with its digests preserved") {
  if (!ckms::testkit::have_program("umoci")) FAIL("umoci is not installed (scripts/install-deps.sh)");
  TempDir dir("ckms-test-");
  const auto image = (dir / "image").string();
  REQUIRE(run({"umoci", "init", "--layout", image}).exit_code == 0);
  REQUIRE(run({"umoci", "new", "--image", image + ":base"}).exit_code == 0);
  REQUIRE(run({"umoci", "config", "--image", image + ":base", "--config.label", "io.ckms.kernel.release=6.1.0-0-test"})
              .exit_code == 0);
  const auto original = run({"skopeo", "inspect", "--raw", "oci:" + image + ":base"});
  REQUIRE(original.exit_code == 0);
  require_ok(run_ckms({"copy", "oci:" + image + ":base", "oci:" + (dir / "copy").string() + ":base"}));
  const auto copied = run_ckms({"inspect", "--raw", "oci:" + (dir / "copy").string() + ":base"});
  require_ok(copied);
  CHECK(copied.out == original.out);
  // umoci itself accepts the copy as a valid image.
  CHECK(run({"umoci", "stat", "--image", (dir / "copy").string() + ":base"}).exit_code == 0);
}

// A layout tagged "evil" whose manifest has one layer per title, as a hostile registry
// would serve it.
void titled_layout(const fs::path& dir, const std::vector<std::string>& titles) {
  ckms::oci::Layout layout(dir, ckms::oci::Layout::Mode::create_if_missing);
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& title : titles) {
    const std::string content = "pwned by " + title;
    ckms::oci::Descriptor layer = ckms::oci::Descriptor::for_content("application/octet-stream", content);
    layer.annotations["org.opencontainers.image.title"] = title;
    ckms::oci::push_bytes(layout, layer, content);
    layers.push_back({{"mediaType", layer.media_type},
                      {"digest", layer.digest.str()},
                      {"size", layer.size},
                      {"annotations", layer.annotations}});
  }
  const auto config = ckms::oci::Descriptor::for_content("application/vnd.oci.empty.v1+json", "{}");
  ckms::oci::push_bytes(layout, config, "{}");
  nlohmann::json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config", {{"mediaType", config.media_type}, {"digest", config.digest.str()}, {"size", 2}}},
      {"layers", layers}};
  const auto bytes = manifest.dump();
  const auto md = ckms::oci::Descriptor::for_content("application/vnd.oci.image.manifest.v1+json", bytes);
  ckms::oci::push_bytes(layout, md, bytes);
  layout.tag(md, "evil");
}

TEST_CASE("bad input is refused with the input named and the right exit code") {
  TempDir dir("ckms-test-");
  SECTION("a malformed reference is a usage error") {
    const auto r = run_ckms({"inspect", "Not A Reference"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("Not A Reference"));
  }
  SECTION("a missing tag is not found") {
    const auto layout = push_example(dir);
    const auto r = run_ckms({"inspect", "oci:" + layout.string() + ":missing"});
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, Catch::Contains("missing"));
  }
  SECTION("a corrupted blob stops a pull and leaves no partial file") {
    const auto layout = push_example(dir);
    const auto blob = ckms::digest_of(std::string(100000, 'k'));
    const auto path = layout / "blobs" / "sha256" / blob.hex();
    fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
    ckms::testkit::write_text(path, std::string(99999, 'k') + "X");
    const auto r = run_ckms({"pull", "oci:" + layout.string() + ":v1", "-o", (dir / "out").string()});
    CHECK(r.exit_code == 4);
    CHECK_THAT(r.err, Catch::Contains(blob.str()));
    CHECK_FALSE(fs::exists(dir / "out" / "hello.ko"));
    for (const auto& entry : fs::directory_iterator(dir / "out")) {
      CHECK(entry.path().filename().string().find("hello.ko") == std::string::npos);
    }
    const auto v = run_ckms({"verify", "oci:" + layout.string()});
    CHECK(v.exit_code == 4);
  }
  SECTION("a layer title that would escape the output directory is refused") {
    titled_layout(dir / "evil", {"../escaped"});
    fs::create_directories(dir / "out" / "inner");
    const auto r =
        run_ckms({"pull", "oci:" + (dir / "evil").string() + ":evil", "-o", (dir / "out" / "inner").string()});
    CHECK(r.exit_code == 5);
    CHECK_THAT(r.err, Catch::Contains("../escaped"));
    CHECK_FALSE(fs::exists(dir / "out" / "escaped"));
  }
  SECTION("two layers with one title are refused before either is written") {
    titled_layout(dir / "twice", {"module.ko", "module.ko"});
    const auto r = run_ckms({"pull", "oci:" + (dir / "twice").string() + ":evil", "-o", (dir / "out").string()});
    CHECK(r.exit_code == 5);
    CHECK_THAT(r.err, Catch::Contains("two layers are titled \"module.ko\""));
    CHECK_FALSE(fs::exists(dir / "out"));
  }
  SECTION("a title with a control character is refused, and shown escaped") {
    titled_layout(dir / "newline", {"evil\nname\x1b[2J"});
    const auto r = run_ckms({"pull", "oci:" + (dir / "newline").string() + ":evil", "-o", (dir / "out").string()});
    CHECK(r.exit_code == 5);
    CHECK_THAT(r.err, Catch::Contains("evil\\nname\\x1b[2J"));
    CHECK(r.err.find('\x1b') == std::string::npos);
    CHECK_FALSE(fs::exists(dir / "out"));
  }
  SECTION("a push of a missing file creates no layout") {
    const auto r = run_ckms({"push", "oci:" + (dir / "never").string() + ":v1", (dir / "missing.ko").string(),
                             "--artifact-type", "application/vnd.example"});
    CHECK(r.exit_code == 3);
    CHECK_FALSE(fs::exists(dir / "never"));
  }
  SECTION("a pull into a file is one line naming it, not an internal error") {
    const auto layout = push_example(dir);
    ckms::testkit::write_text(dir / "a-file", "x");
    const auto r = run_ckms({"pull", "oci:" + layout.string() + ":v1", "-o", (dir / "a-file").string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::StartsWith("ckms: error: ") && Catch::Contains((dir / "a-file").string()));
    CHECK_THAT(r.err, !Catch::Contains("internal error"));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
}

TEST_CASE("ckms copy within one registry mounts the blobs and says so, with --password-stdin read once") {
  ckms::testkit::RegistryFixture registry(ckms::testkit::RegistrySetup::token);
  TempDir dir("ckms-test-");
  const auto layout = push_example(dir);
  const std::string staging = registry.host() + "/staging/hello:v1";
  const std::string password = registry.credentials().password + "\n";
  const std::vector<std::string> login{"--plain-http", "--username", registry.credentials().username,
                                       "--password-stdin"};
  auto with_login = [&](std::vector<std::string> args) {
    args.insert(args.end(), login.begin(), login.end());
    return args;
  };
  require_ok(run_ckms(with_login({"--quiet", "copy", "oci:" + layout.string() + ":v1", staging}), password));

  // Source and destination both need the password: stdin gives it once.
  const auto copied =
      run_ckms(with_login({"--json", "--quiet", "copy", staging, registry.host() + "/prod/hello:v1"}), password);
  require_ok(copied);
  const auto summary = nlohmann::json::parse(copied.out);
  CHECK(summary["blobsMounted"] == 3);  // two files and the config
  CHECK(summary["blobsPresent"] == 0);
  CHECK(summary["blobsUploaded"] == 1);  // the manifest
  CHECK(registry.requests("PATCH /v2/prod/hello/").empty());
  CHECK(registry.requests("PUT /v2/prod/hello/blobs/").empty());

  const auto again = run_ckms(with_login({"copy", staging, registry.host() + "/prod/hello:v2"}), password);
  require_ok(again);
  CHECK_THAT(again.out, Catch::Contains("(0 mounted, 1 already present, 0 uploaded: 0 B)"));
}
