#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ckms/base/error.hpp"
#include "ckms/images/archive_kernels.hpp"
#include "require_error.hpp"
#include "testkit.hpp"

using namespace ckms::images;

TEST_CASE("a Debian kernel release's flavour follows its version and ABI number") {
  CHECK(kernel_flavour("6.1.0-57-cloud-amd64") == "cloud-amd64");
  CHECK(kernel_flavour("6.1.0-57-amd64") == "amd64");
  CHECK(kernel_flavour("6.1.0-57-rt-arm64") == "rt-arm64");
  CHECK(kernel_flavour("6.12.9+deb13-cloud-amd64") == "cloud-amd64");
  CHECK(kernel_flavour("cloud-amd64").empty());
  CHECK(kernel_flavour("6.1.0").empty());
}

TEST_CASE("image packages name their release; meta and debug packages name none") {
  CHECK(image_package_release("linux-image-6.1.0-57-cloud-amd64") == "6.1.0-57-cloud-amd64");
  CHECK(image_package_release("linux-image-6.1.0-57-cloud-amd64-unsigned") == "6.1.0-57-cloud-amd64");
  CHECK_FALSE(image_package_release("linux-image-6.1.0-57-cloud-amd64-dbg"));
  CHECK_FALSE(image_package_release("linux-image-cloud-amd64"));
  CHECK_FALSE(image_package_release("linux-image-amd64-signed-template"));
  CHECK_FALSE(image_package_release("linux-headers-6.1.0-57-cloud-amd64"));
}

TEST_CASE("archive kernels are the image packages of the flavours asked, with their headers") {
  const std::vector<std::string> names{"linux-image-6.1.0-57-cloud-amd64",
                                       "linux-headers-6.1.0-57-cloud-amd64",
                                       "linux-image-6.1.0-56-cloud-amd64-unsigned",
                                       "linux-image-6.1.0-57-amd64",
                                       "linux-image-6.1.0-57-cloud-amd64-dbg",
                                       "linux-image-cloud-amd64",
                                       "linux-headers-6.1.0-57-common"};
  const auto cloud = archive_kernels(names, {"cloud-amd64"});
  REQUIRE(cloud.size() == 2);
  CHECK(cloud[0].release == "6.1.0-56-cloud-amd64");
  CHECK_FALSE(cloud[0].headers);
  CHECK(cloud[1].release == "6.1.0-57-cloud-amd64");
  CHECK(cloud[1].headers);
  CHECK(archive_kernels(names, {}).size() == 3);
  CHECK(archive_kernels(names, {"rt-amd64"}).empty());
}

TEST_CASE("apt's Packages indexes give the kernel packages they list") {
  ckms::testkit::TempDir lists("ckms-test-");
  ckms::testkit::write_text(lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
                            "Package: linux-image-6.1.0-57-cloud-amd64\nVersion: 6.1.158-1\n\n"
                            "Package: hello\nVersion: 2.10\nDescription: Package: linux-image-1.0-1-fake\n\n"
                            "Package: linux-headers-6.1.0-57-cloud-amd64\nVersion: 6.1.158-1");
  ckms::testkit::write_text(lists / "deb.debian.org_debian_dists_bookworm_InRelease", "Package: linux-image-9-x\n");
  CHECK(apt_list_kernel_packages(lists.path()) ==
        std::vector<std::string>{"linux-headers-6.1.0-57-cloud-amd64", "linux-image-6.1.0-57-cloud-amd64"});

  ckms::testkit::TempDir empty("ckms-test-");
  ckms::testkit::require_error([&] { apt_list_kernel_packages(empty.path()); }, ckms::ErrorKind::not_found,
                               "no Packages index");
}
