// The reference and media-type grammars are matched by hand for speed; these tests hold them
// to the published regular expressions (distribution/reference, RFC 6838) on strings drawn
// from the alphabet where the two could disagree.

#include <functional>
#include <random>
#include <regex>

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/descriptor.hpp"
#include "ckms/oci/reference.hpp"

using namespace ckms;

namespace {

const std::regex kTag("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
const std::regex kRepository("[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*");
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

// Draws strings from `alphabet`, keeps those `relevant` accepts, and requires the matcher to
// agree with the grammar on each; returns how many the grammar accepted.
int require_agreement(
    const std::string& alphabet, std::size_t max_length, const std::regex& grammar,
    const std::function<bool(const std::string&)>& matcher,
    const std::function<bool(const std::string&)>& relevant = [](const std::string&) { return true; }) {
  Strings strings(alphabet);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto text = strings.next(max_length);
    if (!relevant(text)) continue;
    INFO(text);
    const bool expected = std::regex_match(text, grammar);
    REQUIRE(matcher(text) == expected);
    accepted += expected;
  }
  return accepted;
}

}  // namespace

TEST_CASE("tags match the distribution grammar") {
  CHECK(require_agreement("aZ09_.-/:", 12, kTag, [](const std::string& t) { return oci::is_valid_tag(t); }) > 100);
  CHECK(oci::is_valid_tag(std::string(128, 'a')));
  CHECK_FALSE(oci::is_valid_tag(std::string(129, 'a')));
}

TEST_CASE("repositories match the distribution grammar") {
  CHECK(require_agreement("ab0._-/A", 10, kRepository,
                          [](const std::string& r) { return oci::is_valid_repository(r); }) > 100);
}

TEST_CASE("registry hosts match the distribution grammar") {
  // A first component without '.', ':' or capitals is a repository path, not a host.
  const auto names_a_host = [](const std::string& h) {
    return !h.empty() && h.find_first_of(".:Z") != std::string::npos;
  };
  CHECK(require_agreement("aZ0-.:[]f", 10, kDomain, parses_as_registry_host, names_a_host) > 100);
}

TEST_CASE("media types match RFC 6838 restricted names") {
  CHECK(require_agreement("aZ0/+.-!;", 10, kMediaType,
                          [](const std::string& t) { return oci::is_valid_media_type(t); }) > 100);
  CHECK(oci::is_valid_media_type(std::string(127, 'a') + "/" + std::string(127, 'b')));
  CHECK_FALSE(oci::is_valid_media_type(std::string(128, 'a') + "/b"));
}
