// `ckms kernels` against this machine's apt indexes (what `apt-get update` fetched from
// Debian's archive) and a real registry: the releases are the ones apt-cache knows, and the
// published ones exactly those the registry holds a per-kernel tag for.
#include <catch2/catch.hpp>

#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/reference.hpp"
#include "registry_fixture.hpp"
#include "testkit.hpp"

using ckms::testkit::run;
using ckms::testkit::RunResult;

namespace {

constexpr const char* kFlavour = "cloud-amd64";

RunResult run_ckms(std::vector<std::string> args) {
  args.insert(args.begin(), ckms::testkit::ckms_binary().string());
  return run(args);
}

nlohmann::json kernels_json(std::vector<std::string> args) {
  args.insert(args.begin(), {"--json", "kernels", "--distro", "debian", "--flavour", kFlavour});
  const auto result = run_ckms(args);
  INFO("stdout: " << result.out << "\nstderr: " << result.err);
  REQUIRE(result.exit_code == 0);
  return nlohmann::json::parse(result.out)["kernels"];
}

// What apt itself says the archive offers for the flavour: linux-image-<release> packages
// (the pattern's `$` leaves out -dbg and -unsigned, the release has a digit first so meta
// packages are left out too).
std::set<std::string> apt_cache_releases() {
  const auto result = run({"apt-cache", "pkgnames", "linux-image-"});
  REQUIRE(result.exit_code == 0);
  const std::regex pattern(std::string("^linux-image-([0-9][^ ]*-") + kFlavour + ")$");
  std::set<std::string> releases;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (std::regex_match(line, match, pattern)) releases.insert(match[1]);
  }
  return releases;
}

std::set<std::string> releases_where(const nlohmann::json& kernels, const char* field) {
  std::set<std::string> releases;
  for (const auto& k : kernels) {
    if (field == nullptr || k.at(field).get<bool>()) releases.insert(k.at("release").get<std::string>());
  }
  return releases;
}

// A manifest tagged `tag` in `repository`: all a listing of tags can tell.
void tag_manifest(ckms::testkit::RegistryFixture& registry, const std::string& repository, const std::string& tag) {
  using namespace ckms;
  oci::RegistryRepository repo(registry.reference(repository), registry.options());
  const std::string config = "{}";
  const auto config_descriptor = oci::Descriptor::for_content(std::string(oci::media_type::kOciEmpty), config);
  oci::push_bytes(repo, config_descriptor, config);
  const oci::ImageManifest manifest{
      std::string(oci::media_type::kOciManifest), std::nullopt, config_descriptor, {}, std::nullopt, {}};
  const std::string bytes = manifest.serialize();
  const auto descriptor = oci::Descriptor::for_content(manifest.media_type, bytes);
  oci::push_bytes(repo, descriptor, bytes);
  repo.tag(descriptor, tag);
}

}  // namespace

TEST_CASE("ckms kernels lists the releases apt-cache knows for the flavour") {
  const auto expected = apt_cache_releases();
  REQUIRE_FALSE(expected.empty());  // the machine's apt lists hold Debian's kernels (apt-get update)
  const auto kernels = kernels_json({});
  CHECK(releases_where(kernels, nullptr) == expected);
  for (const auto& k : kernels) CHECK(k.at("flavour") == kFlavour);
}

TEST_CASE("ckms kernels marks as published exactly the kernels the registry has a tag for") {
  const auto releases = apt_cache_releases();
  REQUIRE(releases.size() >= 3);
  const std::string first = *releases.begin(), last = *releases.rbegin(), other = *std::next(releases.begin());
  ckms::testkit::RegistryFixture registry(ckms::testkit::RegistrySetup::open_http);
  tag_manifest(registry, "ckms/hello", ckms::artifact::kernel_tag("1.0.0", first));
  tag_manifest(registry, "ckms/hello", ckms::artifact::kernel_tag("1.0.0", last));
  // Another version's artifact, and another release's build image only.
  tag_manifest(registry, "ckms/hello", ckms::artifact::kernel_tag("0.9.0", other));
  tag_manifest(registry, "ckms/kernel-build", ckms::oci::sanitize_tag(other));

  const std::vector<std::string> query{"--repository",     registry.host() + "/ckms/hello",
                                       "--version",        "1.0.0",
                                       "--image-template", registry.host() + "/ckms/kernel-build:{release}",
                                       "--plain-http"};
  const auto kernels = kernels_json(query);
  CHECK(releases_where(kernels, nullptr) == releases);
  CHECK(releases_where(kernels, "published") == std::set<std::string>{first, last});
  CHECK(releases_where(kernels, "imageFound") == std::set<std::string>{other});

  auto missing_query = query;
  missing_query.push_back("--missing");
  auto missing = releases;
  missing.erase(first);
  missing.erase(last);
  CHECK(releases_where(kernels_json(missing_query), nullptr) == missing);

  // Text: the release first, for pipelines that take the first column.
  auto text = run_ckms({"kernels", "--distro", "debian", "--flavour", kFlavour, "--repository",
                        registry.host() + "/ckms/hello", "--version", "1.0.0", "--plain-http", "--missing"});
  REQUIRE(text.exit_code == 0);
  std::set<std::string> printed;
  std::istringstream lines(text.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string release, state;
    words >> release >> state;
    CHECK(state == "missing");
    printed.insert(release);
  }
  CHECK(printed == missing);
}

TEST_CASE("ckms kernels refuses an unknown distribution and --missing without a repository") {
  const auto distro = run_ckms({"kernels", "--distro", "gentoo"});
  CHECK(distro.exit_code == 2);
  CHECK(distro.err.find("--distro 'gentoo'") != std::string::npos);
  const auto missing = run_ckms({"kernels", "--distro", "debian", "--missing"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("--missing needs --repository") != std::string::npos);
}
