// Authentication failures against the real registry setups, and login/logout.

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/registry.hpp"
#include "registry_fixture.hpp"
#include "registry_test_util.hpp"

using namespace ckms;
using namespace ckms::oci;
using testkit::RegistryFixture;
using testkit::RegistrySetup;

namespace {

ErrorKind kind_of(const std::function<void()>& action, std::string& message) {
  try {
    action();
  } catch (const Error& e) {
    message = e.what();
    return e.kind();
  }
  FAIL("no error");
  return ErrorKind::internal;
}

}  // namespace

TEST_CASE("a wrong password is an auth error naming the repository") {
  const RegistrySetup setup = GENERATE(RegistrySetup::basic_tls, RegistrySetup::token);
  RegistryFixture registry(setup);
  RegistryOptions options = registry.options();
  options.credentials = Credentials{registry.credentials().username, "wrong", ""};
  RegistryRepository repo(registry.reference("ckms/locked"), options);
  std::string message;
  CHECK(kind_of([&] { repo.resolve("latest"); }, message) == ErrorKind::auth);
  CHECK_THAT(message, Catch::Contains("ckms/locked"));
}

TEST_CASE("no credentials for a registry that needs them is an auth error") {
  const RegistrySetup setup = GENERATE(RegistrySetup::basic_tls, RegistrySetup::token);
  RegistryFixture registry(setup);
  RegistryOptions options = registry.options();
  options.credentials.reset();
  RegistryRepository repo(registry.reference("ckms/locked"), options);
  std::string message;
  CHECK(kind_of([&] { test::push_blob(repo, media_type::kOciLayerTar, "x"); }, message) == ErrorKind::auth);
  CHECK_THAT(message, Catch::Contains("401"));
}

TEST_CASE("a scope the token service denies is an auth error naming the repository") {
  RegistryFixture registry(RegistrySetup::token);
  RegistryRepository open(registry.reference("ckms/open"), registry.options());
  const auto image = test::push_image(open, 100, 7);
  registry.deny("ckms/secret");
  RegistryRepository secret(registry.reference("ckms/secret"), registry.options());
  std::string message;
  CHECK(kind_of([&] { test::push_blob(secret, media_type::kOciLayerTar, "x"); }, message) == ErrorKind::auth);
  CHECK_THAT(message, Catch::Contains("ckms/secret"));
  // Mounting from a denied repository needs pull there: the registry refuses and says so.
  CHECK(kind_of([&] { secret.mount(image.layer, "ckms/open"); }, message) == ErrorKind::auth);
  // The open repository still works with its own token.
  CHECK(open.resolve(image.manifest.digest.str()).digest == image.manifest.digest);
}

TEST_CASE("a TLS registry whose CA is not trusted is refused without retries") {
  RegistryFixture registry(RegistrySetup::basic_tls);
  RegistryOptions options = registry.options();
  options.ca_cert.reset();
  options.initial_backoff = std::chrono::seconds(5);  // a retry would show in the duration
  RegistryRepository repo(registry.reference("ckms/tls"), options);
  const auto start = std::chrono::steady_clock::now();
  std::string message;
  CHECK(kind_of([&] { repo.ping(); }, message) == ErrorKind::network);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(4));
  CHECK_THAT(message, Catch::Contains("certificate") || Catch::Contains("SSL"));
}

TEST_CASE("login checks and stores credentials, logout removes them") {
  const RegistrySetup setup = GENERATE(RegistrySetup::basic_tls, RegistrySetup::token);
  RegistryFixture registry(setup);
  testkit::TempDir home("ckms-test-");
  RegistryOptions options = registry.options();
  options.credentials.reset();
  options.auth_file = home / "containers" / "auth.json";
  testkit::write_text(home / "keep.json", "");

  std::string message;
  CHECK(kind_of(
            [&] {
              login(registry.host(), {registry.credentials().username, "wrong", ""}, options);
            },
            message) == ErrorKind::auth);
  CHECK_FALSE(std::filesystem::exists(*options.auth_file));

  const auto written = login(registry.host(), registry.credentials(), options);
  CHECK(written == *options.auth_file);
  struct stat st {};
  REQUIRE(::stat(written.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const auto stored = find_credentials(registry.host(), options.auth_file);
  REQUIRE(stored);
  CHECK(stored->password == registry.credentials().password);

  // The stored credentials are what a repository without --username now uses.
  RegistryRepository repo(registry.reference("ckms/after-login"), options);
  const auto image = test::push_image(repo, 10, 8);
  CHECK(repo.resolve(image.manifest.digest.str()).size == image.manifest.size);

  CHECK(logout(registry.host(), options.auth_file));
  CHECK_FALSE(logout(registry.host(), options.auth_file));
  CHECK_FALSE(find_credentials(registry.host(), options.auth_file));
}
