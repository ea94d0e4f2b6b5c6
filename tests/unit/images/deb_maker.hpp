#pragma once
// Builds small real Debian packages with dpkg-deb, so tests read exactly what dpkg writes.

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <string>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "testkit.hpp"

namespace ckms::testing {

struct DebSpec {
  std::string package;
  std::string version = "1.0-1";
  std::string depends = {};
  std::string architecture = "amd64";
  std::string compression = "xz";                    // dpkg-deb -Z
  std::map<std::string, std::string> files = {};     // path (no leading '/') -> content
  std::map<std::string, std::string> symlinks = {};  // path -> target
};

inline std::filesystem::path make_deb(const std::filesystem::path& dir, const DebSpec& spec) {
  namespace fs = std::filesystem;
  const fs::path root = dir / ("root-" + spec.package + "-" + spec.architecture);
  fs::create_directories(root / "DEBIAN");
  std::string control =
      fmt::format("Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: ckms tests <tests@ckms.invalid>\n",
                  spec.package, spec.version, spec.architecture);
  if (!spec.depends.empty()) control += "Depends: " + spec.depends + "\n";
  control += "Description: test package\n made by the ckms tests\n";
  testkit::write_text(root / "DEBIAN/control", control);
  for (const auto& [path, content] : spec.files) {
    fs::create_directories((root / path).parent_path());
    testkit::write_text(root / path, content);
    ::chmod((root / path).c_str(), path.ends_with(".sh") ? 0755 : 0644);
  }
  for (const auto& [path, target] : spec.symlinks) {
    fs::create_directories((root / path).parent_path());
    fs::create_symlink(target, root / path);
  }
  const fs::path deb = dir / fmt::format("{}_{}_{}.deb", spec.package, spec.version, spec.architecture);
  testkit::RunOptions options;
  options.env["SOURCE_DATE_EPOCH"] = "1700000000";
  const auto result = testkit::run(
      {"dpkg-deb", "--root-owner-group", "-Z" + spec.compression, "--build", root.string(), deb.string()}, options);
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  fs::remove_all(root);
  return deb;
}

}  // namespace ckms::testing
