// The reference and media-type grammars are matched by hand for speed; these tests hold them
// to the published regular expressions (distribution/reference, RFC 6838) on strings drawn
// from the alphabet where the two could disagree.

#include <random>
#include <regex>

#include <catch2/catch.hpp>

#include "ckms/oci/descriptor.hpp"
#include "ckms/oci/error.hpp"
#include "ckms/oci/reference.hpp"

using namespace ckms;

namespace {

const std::regex kTag("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
const std::regex kRepository(
    "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*");
const std::regex kDomain(
    "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    "(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
    "(?::[0-9]+)?|\\[[a-fA-F0-9:]+\\](?::[0-9]+)?");
const std::regex kMediaType("[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}");

class Strings {
 public:
  explicit Strings(std::string alphabet) : alphabet_(std::move(alphabet)) {}
  std::string next(std::size_t max_length) {
    std::string out(std::uniform_int_distribution<std::size_t>(0, max_length)(random_), ' ');
    for (char& c : out) c = alphabet_[std::uniform_int_distribution<std::size_t>(0, alphabet_.size() - 1)(random_)];
    return out;
  }

 private:
  std::string alphabet_;
  std::mt19937 random_{20261123};
};

bool parses_as_registry_host(const std::string& host) {
  try {
    return oci::Reference::parse(host + "/repo").registry().registry == host;
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::usage);
    return false;
  }
}

}  // namespace

TEST_CASE("tags match the distribution grammar") {
  Strings strings("aZ09_.-/:");
  for (int i = 0; i < 20000; ++i) {
    const auto tag = strings.next(12);
    INFO(tag);
    REQUIRE(oci::is_valid_tag(tag) == std::regex_match(tag, kTag));
  }
  CHECK(oci::is_valid_tag(std::string(128, 'a')));
  CHECK_FALSE(oci::is_valid_tag(std::string(129, 'a')));
}

TEST_CASE("repositories match the distribution grammar") {
  Strings strings("ab0._-/A");
  for (int i = 0; i < 20000; ++i) {
    const auto repository = strings.next(10);
    INFO(repository);
    REQUIRE(oci::is_valid_repository(repository) == std::regex_match(repository, kRepository));
  }
}

TEST_CASE("registry hosts match the distribution grammar") {
  Strings strings("aZ0-.:[]f");
  int hosts = 0;
  for (int i = 0; i < 20000; ++i) {
    // A first component without '.', ':' or capitals is a repository path, not a host.
    const auto host = strings.next(10);
    if (host.empty() || host.find('/') != std::string::npos) continue;
    if (host.find_first_of(".:Z") == std::string::npos) continue;
    INFO(host);
    const bool expected = std::regex_match(host, kDomain);
    REQUIRE(parses_as_registry_host(host) == expected);
    hosts += expected;
  }
  CHECK(hosts > 100);
}

TEST_CASE("media types match RFC 6838 restricted names") {
  Strings strings("aZ0/+.-!;");
  for (int i = 0; i < 20000; ++i) {
    const auto type = strings.next(10);
    INFO(type);
    REQUIRE(oci::is_valid_media_type(type) == std::regex_match(type, kMediaType));
  }
  CHECK(oci::is_valid_media_type(std::string(127, 'a') + "/" + std::string(127, 'b')));
  CHECK_FALSE(oci::is_valid_media_type(std::string(128, 'a') + "/b"));
}
