#pragma once
// What every `ckms build` test shares, made once per test run: a toolchain root filesystem
// from mmdebstrap (cached between runs), kernel build images made from it by
// `ckms image build` for the two newest cloud ABIs, an unpack cache, and a signing key
// made by `openssl req` like the kernel's certs/x509.genkey.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "testkit.hpp"

namespace ckms::builder::test {

struct BuildFixture {
  std::vector<std::string> releases;  // older first; the headers of each are installed
  std::filesystem::path root;         // world-traversable: rootless runs read from it
  std::filesystem::path images;       // OCI layout, one image per release tagged by it
  std::filesystem::path cache_dir;    // --cache-dir of rootful runs
  std::filesystem::path key;
  std::filesystem::path cert;
  std::string signer;  // the certificate's subject, as ckms records it

  std::string image_template() const { return "oci:" + images.string() + ":{release}"; }
};

const BuildFixture& build_fixture();

// The toolchain tar the fixture's images are made from (mmdebstrap, cached by package list).
std::filesystem::path toolchain_tar();
// A minbase root filesystem with `packages` (mmdebstrap, cached by package list).
std::filesystem::path toolchain_tar(const std::vector<std::string>& packages);

// A *-dkms package's /usr/src tree (tests/corpus/fetch-dkms-packages.sh), fetched into the
// download cache once.
std::filesystem::path corpus_tree(const std::string& package);

// Runs the ckms binary under test.
testkit::RunResult run_ckms(const std::vector<std::string>& args, const testkit::RunOptions& options = {});

// `ckms --json build ARGS...`: the result and its parsed summary (null when stdout is not
// JSON, which the caller's checks then show).
struct BuildRun {
  std::vector<std::string> args;
  testkit::RunResult result;
  nlohmann::json summary;
  const nlohmann::json& kernel(const std::string& release) const;
  // Why a run ended as it did: its command line, exit code, stdout, stderr and the end of
  // each failed kernel's build log, for a failed check to show.
  std::string transcript() const;
};
BuildRun ckms_build_json(const std::vector<std::string>& args, const testkit::RunOptions& options = {});

// A check of a run's exit code that shows the run's transcript when it fails.
#define CHECK_BUILD_EXIT(run, code)          \
  do {                                       \
    INFO((run).transcript());                \
    CHECK((run).result.exit_code == (code)); \
  } while (false)
#define REQUIRE_BUILD_EXIT(run, code)          \
  do {                                         \
    INFO((run).transcript());                  \
    REQUIRE((run).result.exit_code == (code)); \
  } while (false)

// A copy of examples/hello at `dir` (its dkms.conf names ckms-hello 1.0.0, module ckms_hello).
void copy_hello(const std::filesystem::path& dir);

// /usr/lib/linux-kbuild-*/scripts/sign-file, the newest.
std::filesystem::path sign_file_program();

}  // namespace ckms::builder::test
