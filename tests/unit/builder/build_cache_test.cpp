// The build cache key: the same inputs give the same key, and every input that changes the
// published bytes changes it.

#include <catch2/catch.hpp>

#include <functional>
#include <set>

#include "ckms/builder/build_cache.hpp"

using namespace ckms::builder;
using ckms::digest_of;

namespace {

CacheInputs inputs() {
  return CacheInputs{.source = digest_of("source"),
                     .dkms_conf = digest_of("dkms.conf"),
                     .build_image = digest_of("image"),
                     .kernel_release = "6.1.0-56-cloud-amd64",
                     .arch = "x86_64",
                     .signing_certificate = digest_of("cert"),
                     .sign_hash = "sha256",
                     .sign_key_id = false,
                     .compression = "none",
                     .default_parameters = {"greeting=hi"},
                     .ckms_version = "0.1.0"};
}

}  // namespace

TEST_CASE("cache key: stable for equal inputs, a sha256 digest") {
  const std::string key = cache_key(inputs());
  CHECK(key == cache_key(inputs()));
  CHECK(key.starts_with("sha256:"));
  CHECK(key.size() == 7 + 64);
}

TEST_CASE("cache key: every input that decides the output changes it") {
  const std::vector<std::pair<std::string, std::function<void(CacheInputs&)>>> changes = {
      {"source", [](CacheInputs& i) { i.source = digest_of("other source"); }},
      {"dkms.conf", [](CacheInputs& i) { i.dkms_conf = digest_of("other conf"); }},
      {"build image", [](CacheInputs& i) { i.build_image = digest_of("other image"); }},
      {"no build image", [](CacheInputs& i) { i.build_image.reset(); }},
      {"kernel", [](CacheInputs& i) { i.kernel_release = "6.1.0-55-cloud-amd64"; }},
      {"arch", [](CacheInputs& i) { i.arch = "aarch64"; }},
      {"certificate", [](CacheInputs& i) { i.signing_certificate = digest_of("other cert"); }},
      {"unsigned", [](CacheInputs& i) { i.signing_certificate.reset(); }},
      {"hash", [](CacheInputs& i) { i.sign_hash = "sha512"; }},
      {"key id", [](CacheInputs& i) { i.sign_key_id = true; }},
      {"compression", [](CacheInputs& i) { i.compression = "xz"; }},
      {"default parameter", [](CacheInputs& i) { i.default_parameters = {"greeting=hello"}; }},
      {"no default parameters", [](CacheInputs& i) { i.default_parameters.clear(); }},
      {"ckms version", [](CacheInputs& i) { i.ckms_version = "0.2.0"; }},
  };
  std::set<std::string> keys = {cache_key(inputs())};
  for (const auto& [what, change] : changes) {
    CacheInputs changed = inputs();
    change(changed);
    INFO(what);
    CHECK(keys.insert(cache_key(changed)).second);
  }
}

TEST_CASE("cache key: signing options do not matter for an unsigned build") {
  CacheInputs a = inputs();
  a.signing_certificate.reset();
  CacheInputs b = a;
  b.sign_hash = "sha512";
  b.sign_key_id = true;
  CHECK(cache_key(a) == cache_key(b));
}
