// The module config is read from registries: every field a loader turns into a path, a
// module name or a digest must be refused when it is not what the format allows.

#include <functional>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/reference.hpp"

using namespace ckms::artifact;
using ckms::Error;
using ckms::ErrorKind;
using nlohmann::json;

namespace {

const std::string kDigestA = "sha256:" + std::string(64, 'a');
const std::string kDigestB = "sha256:" + std::string(64, 'b');

// A valid config of two modules, the second depending on the first.
json valid_json() {
  return json{{"name", "hello"},
              {"version", "1.0"},
              {"kernelRelease", "6.1.0-56-cloud-amd64"},
              {"arch", "x86_64"},
              {"files",
               {{{"file", "base.ko.xz"},
                 {"module", "base"},
                 {"vermagic", "6.1.0-56-cloud-amd64 SMP mod_unload modversions "},
                 {"srcversion", "0123456789ABCDEF"},
                 {"depends", json::array()},
                 {"signer", "CN = ckms"},
                 {"installLocation", "/updates/dkms"},
                 {"digest", kDigestA},
                 {"size", 1234}},
                {{"file", "hello.ko"},
                 {"module", "hello"},
                 {"depends", {"base", "crc32c"}},
                 {"digest", kDigestB},
                 {"size", 99}}}},
              {"defaultParameters", {{"hello", {{"greeting", "hi there"}}}}},
              {"provenance",
               {{"source", kDigestA},
                {"buildImage", kDigestB},
                {"ckmsVersion", "0.1.0"},
                {"created", "2026-01-01T00:00:00Z"}}}};
}

ErrorKind parse_error_kind(const json& j) {
  try {
    ModuleConfig::parse(j.dump(), "test config");
  } catch (const Error& e) {
    REQUIRE(std::string(e.what()).find("test config") != std::string::npos);
    return e.kind();
  }
  FAIL("parse accepted " << j.dump());
  return ErrorKind::internal;
}

}  // namespace

TEST_CASE("a config parses and serializes back to the same bytes", "[artifact][config]") {
  const std::string bytes = valid_json().dump();
  const auto config = ModuleConfig::parse(bytes, "c");
  CHECK(config.name == "hello");
  CHECK(config.version == "1.0");
  CHECK(config.kernel_release == "6.1.0-56-cloud-amd64");
  CHECK(config.arch == "x86_64");
  REQUIRE(config.files.size() == 2);
  CHECK(config.files[0].file_name == "base.ko.xz");
  CHECK(config.files[0].module_name == "base");
  CHECK(config.files[0].signer == "CN = ckms");
  CHECK(config.files[0].install_location == "/updates/dkms");
  CHECK(config.files[0].digest.str() == kDigestA);
  CHECK(config.files[0].size == 1234);
  CHECK(config.files[1].depends == std::vector<std::string>{"base", "crc32c"});
  CHECK(config.default_parameters.at("hello").at("greeting") == "hi there");
  REQUIRE(config.provenance.source);
  CHECK(config.provenance.source->str() == kDigestA);
  CHECK(config.provenance.build_image->str() == kDigestB);
  CHECK(config.provenance.ckms_version == "0.1.0");
  CHECK(config.provenance.created == "2026-01-01T00:00:00Z");

  CHECK(config.serialize() == bytes);  // sorted keys, no whitespace: nlohmann's dump of the same JSON
  CHECK(ModuleConfig::parse(config.serialize(), "again").serialize() == config.serialize());
}

TEST_CASE("optional config fields may be left out", "[artifact][config]") {
  json j = valid_json();
  j.erase("defaultParameters");
  j.erase("provenance");
  j["files"][0].erase("signer");
  j["files"][0].erase("depends");
  const auto config = ModuleConfig::parse(j.dump(), "c");
  CHECK(config.files[0].signer.empty());
  CHECK(config.files[0].depends.empty());
  CHECK_FALSE(config.provenance.source);
  CHECK(ModuleConfig::parse(config.serialize(), "c").serialize() == config.serialize());
}

TEST_CASE("unknown fields are ignored for later format additions", "[artifact][config]") {
  json j = valid_json();
  j["somethingNew"] = {{"x", 1}};
  j["files"][0]["alsoNew"] = true;
  CHECK(ModuleConfig::parse(j.dump(), "c").files.size() == 2);
}

TEST_CASE("hostile or malformed file names are refused", "[artifact][config]") {
  const std::vector<std::string> names{"",
                                       ".",
                                       "..",
                                       "../hello.ko",
                                       "a/hello.ko",
                                       "/hello.ko",
                                       "x/",
                                       "hello\n.ko",
                                       std::string("nul\0.ko", 7),
                                       std::string(256, 'a')};
  for (const auto& name : names) {
    INFO("file name " << json(name).dump());
    json j = valid_json();
    j["files"][0]["file"] = name;
    CHECK(parse_error_kind(j) == ErrorKind::integrity);
  }
  json ok = valid_json();
  ok["files"][0]["file"] = std::string(255, 'a');
  CHECK_NOTHROW(ModuleConfig::parse(ok.dump(), "c"));
}

TEST_CASE("bad digests and sizes are refused", "[artifact][config]") {
  for (const json& digest :
       {json("sha256:zz"), json("md5:" + std::string(32, 'a')), json(""), json("sha256:" + std::string(63, 'a')),
        json("SHA256:" + std::string(64, 'a')), json(42)}) {
    INFO("digest " << digest.dump());
    json j = valid_json();
    j["files"][1]["digest"] = digest;
    CHECK(parse_error_kind(j) == ErrorKind::integrity);
  }
  for (const json& size : {json(-1), json(1.5), json("12"), json(nullptr)}) {
    INFO("size " << size.dump());
    json j = valid_json();
    j["files"][1]["size"] = size;
    CHECK(parse_error_kind(j) == ErrorKind::integrity);
  }
  json j = valid_json();
  j["files"][1].erase("digest");
  CHECK(parse_error_kind(j) == ErrorKind::integrity);
  json p = valid_json();
  p["provenance"]["source"] = "sha256:nothex";
  CHECK(parse_error_kind(p) == ErrorKind::integrity);
}

TEST_CASE("module names, dependencies and load order are checked", "[artifact][config]") {
  SECTION("dependency names are plain module names") {
    for (const std::string& dep :
         std::vector<std::string>{"", "../base", "a/b", "with space", "x,y", std::string(56, 'm')}) {
      INFO("depends " << json(dep).dump());
      json j = valid_json();
      j["files"][1]["depends"] = {dep};
      CHECK(parse_error_kind(j) == ErrorKind::integrity);
    }
  }
  SECTION("module names") {
    for (const char* name : {"", "a/b", "hello.ko", "x y"}) {
      json j = valid_json();
      j["files"][0]["module"] = name;
      CHECK(parse_error_kind(j) == ErrorKind::integrity);
    }
  }
  SECTION("a dependency carried by the artifact comes first") {
    json j = valid_json();
    std::swap(j["files"][0], j["files"][1]);
    CHECK(parse_error_kind(j) == ErrorKind::integrity);
  }
  SECTION("a module depending on itself") {
    json j = valid_json();
    j["files"][0]["depends"] = {"base"};
    CHECK(parse_error_kind(j) == ErrorKind::integrity);
  }
  SECTION("a file or a module listed twice") {
    json j = valid_json();
    j["files"][1]["file"] = "base.ko.xz";
    CHECK(parse_error_kind(j) == ErrorKind::integrity);
    json k = valid_json();
    k["files"][1]["module"] = "base";
    k["files"][1]["depends"] = json::array();
    CHECK(parse_error_kind(k) == ErrorKind::integrity);
  }
  SECTION("no files at all") {
    json j = valid_json();
    j["files"] = json::array();
    j.erase("defaultParameters");
    CHECK(parse_error_kind(j) == ErrorKind::integrity);
  }
}

TEST_CASE("other config fields that become paths or arguments are checked", "[artifact][config]") {
  const auto refused = [](const std::function<void(json&)>& change) {
    json j = valid_json();
    change(j);
    return parse_error_kind(j) == ErrorKind::integrity;
  };
  CHECK(refused([](json& j) { j["files"][0]["installLocation"] = "/updates/../../../etc"; }));
  CHECK(refused([](json& j) { j["files"][0]["installLocation"] = "./x"; }));
  CHECK(refused([](json& j) { j["kernelRelease"] = "../6.1.0"; }));
  CHECK(refused([](json& j) { j["kernelRelease"] = "6.1 0"; }));
  CHECK(refused([](json& j) { j["version"] = ""; }));
  CHECK(refused([](json& j) { j["name"] = "a/b"; }));
  CHECK(refused([](json& j) { j["arch"] = ""; }));
  CHECK(refused([](json& j) { j["files"][0]["vermagic"] = "6.1\nevil"; }));
  CHECK(refused([](json& j) { j["defaultParameters"] = {{"unknown", {{"x", "1"}}}}; }));
  CHECK(refused([](json& j) { j["defaultParameters"] = {{"hello", {{"a=b", "1"}}}}; }));
  CHECK(refused([](json& j) { j["defaultParameters"] = {{"hello", {{"x", "1\n"}}}}; }));
  CHECK(refused([](json& j) { j["defaultParameters"] = {{"hello", {{"x", 1}}}}; }));
  CHECK(refused([](json& j) { j["files"] = "base.ko"; }));
  CHECK(refused([](json& j) { j.erase("kernelRelease"); }));
  CHECK(refused([](json& j) { j["name"] = 7; }));

  json ok = valid_json();
  ok["files"][0]["installLocation"] = "/extra/";
  CHECK_NOTHROW(ModuleConfig::parse(ok.dump(), "c"));

  CHECK_THROWS_AS(ModuleConfig::parse("not json", "c"), Error);
  CHECK_THROWS_AS(ModuleConfig::parse("[]", "c"), Error);
  CHECK_THROWS_AS(ModuleConfig::parse(std::string(5 << 20, ' '), "c"), Error);
}

TEST_CASE("kernel tags and platform architectures", "[artifact][tags]") {
  CHECK(kernel_tag("1.0", "6.1.0-56-cloud-amd64") == "1.0-6.1.0-56-cloud-amd64");
  CHECK(kernel_tag("1.0", "6.1.0-56-cloud-amd64+debug") == "1.0-6.1.0-56-cloud-amd64_debug");
  CHECK(kernel_tag("2.3+git1", "5.15.0+1") == "2.3_git1-5.15.0_1");
  CHECK(kernel_tag("1.0", "6.8.0~rc1") == "1.0-6.8.0_rc1");
  // Shortened tags stay apart: a digest of the whole text ends them.
  const std::string stem(130, 'k');
  const std::string a = kernel_tag("1.0", stem + "-a"), b = kernel_tag("1.0", stem + "-b");
  CHECK(a != b);
  CHECK(a.size() == 128);
  CHECK(ckms::oci::is_valid_tag(a));
  CHECK(a.substr(0, 111) == "1.0-" + stem.substr(0, 107));
  const std::string fits(124, 'k');  // "1.0-" + 124 = 128: as before
  CHECK(kernel_tag("1.0", fits) == "1.0-" + fits);
  CHECK(oci_architecture("x86_64") == "amd64");
  CHECK(oci_architecture("aarch64") == "arm64");
  CHECK(oci_architecture("riscv64") == "riscv64");
}

TEST_CASE("Module.symvers and build dependencies round-trip and are checked", "[artifact][config]") {
  json j = valid_json();
  j["symvers"] = {{"digest", kDigestA}, {"size", 61}};
  j["buildDepends"] = {{{"name", "base-pkg"}, {"version", "2.0"}, {"repository", "ckms/base"}, {"manifest", kDigestB}},
                       {{"name", "other"}, {"version", "1"}, {"manifest", kDigestA}}};
  const auto config = ModuleConfig::parse(j.dump(), "test config");
  REQUIRE(config.symvers.has_value());
  CHECK(config.symvers->size == 61);
  REQUIRE(config.build_depends.size() == 2);
  CHECK(config.build_depends[0].repository == "ckms/base");
  CHECK(config.build_depends[0].manifest.str() == kDigestB);
  CHECK(config.build_depends[1].repository.empty());
  CHECK(config.serialize() == j.dump());

  SECTION("the package itself") {
    j["buildDepends"][0]["name"] = "hello";
    CHECK(parse_error_kind(j) == ErrorKind::integrity);
  }
  SECTION("listed twice") {
    j["buildDepends"][1]["name"] = "base-pkg";
    CHECK(parse_error_kind(j) == ErrorKind::integrity);
  }
  SECTION("names that are not plain, a bad repository, a bad digest") {
    for (const auto& [field, value] : std::vector<std::pair<std::string, std::string>>{
             {"name", "../x"}, {"version", "1 0"}, {"repository", "Bad//Repo"}, {"manifest", "sha256:00"}}) {
      INFO(field << "=" << value);
      json k = j;
      k["buildDepends"][0][field] = value;
      CHECK(parse_error_kind(k) == ErrorKind::integrity);
    }
  }
  SECTION("a negative symvers size") {
    j["symvers"]["size"] = -1;
    CHECK(parse_error_kind(j) == ErrorKind::integrity);
  }
}
