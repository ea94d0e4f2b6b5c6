// The extension-release file `ckms install --sysext` writes, from the host's os-release:
// what systemd-sysext compares (ID, then VERSION_ID, else SYSEXT_LEVEL; ARCHITECTURE).

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/loader/sysext.hpp"
#include "testkit.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;

namespace {

struct Host {
  testkit::TempDir root{"ckms-test-os-release"};

  Host(const std::string& at, const std::string& text) {
    fs::create_directories((root / at).parent_path());
    testkit::write_text(root / at, text);
  }
};

}  // namespace

TEST_CASE("the extension-release matches the host's ID and VERSION_ID and the kernel's architecture",
          "[loader][sysext]") {
  const Host flatcar("etc/os-release",
                     "NAME=\"Flatcar Container Linux by Kinvolk\"\nID=flatcar\nID_LIKE=coreos\n"
                     "VERSION_ID=3815.2.0\nSYSEXT_LEVEL=1.0\n");
  CHECK(extension_release_for(flatcar.root.path(), "x86_64") ==
        "ID=flatcar\nVERSION_ID=3815.2.0\nARCHITECTURE=x86-64\n");
  CHECK(extension_release_for(flatcar.root.path(), "aarch64") ==
        "ID=flatcar\nVERSION_ID=3815.2.0\nARCHITECTURE=arm64\n");
  // An architecture systemd has no name for here: not restricted.
  CHECK(extension_release_for(flatcar.root.path(), "mips") == "ID=flatcar\nVERSION_ID=3815.2.0\n");

  // Quoted values, /usr/lib/os-release when /etc has none, no version (a rolling release).
  const Host fedora("usr/lib/os-release", "# Fedora\nID='fedora'\nVERSION_ID=\"39\"\nVARIANT_ID=coreos\n");
  CHECK(extension_release_for(fedora.root.path(), "x86_64") == "ID=fedora\nVERSION_ID=39\nARCHITECTURE=x86-64\n");
  const Host level_only("etc/os-release", "ID=example\nSYSEXT_LEVEL=2\n");
  CHECK(extension_release_for(level_only.root.path(), "x86_64") == "ID=example\nSYSEXT_LEVEL=2\nARCHITECTURE=x86-64\n");
  const Host rolling("etc/os-release", "ID=arch\n");
  CHECK(extension_release_for(rolling.root.path(), "x86_64") == "ID=arch\nARCHITECTURE=x86-64\n");
}

TEST_CASE("the host's os-release is read inside the root", "[loader][sysext]") {
  // /etc/os-release -> /usr/lib/os-release, absolute: the root's file, not this machine's.
  const Host host("usr/lib/os-release", "ID=inside\nVERSION_ID=1\n");
  fs::create_directories(host.root / "etc");
  fs::create_symlink("/usr/lib/os-release", host.root / "etc" / "os-release");
  CHECK(extension_release_for(host.root.path(), "x86_64") == "ID=inside\nVERSION_ID=1\nARCHITECTURE=x86-64\n");
}

TEST_CASE("an os-release ckms cannot match is refused", "[loader][sysext]") {
  const testkit::TempDir empty{"ckms-test-os-release"};
  CHECK_THROWS_MATCHES(extension_release_for(empty.path(), "x86_64"), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::not_found; }));
  const Host odd("etc/os-release", "ID=x\nVERSION_ID=\"1 beta\"\n");
  CHECK_THROWS_MATCHES(extension_release_for(odd.root.path(), "x86_64"), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::usage; }));
}

}  // namespace ckms::loader::test
