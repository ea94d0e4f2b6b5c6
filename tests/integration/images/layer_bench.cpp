// Unpack speed against GNU tar on a headers-sized layer. Hidden ([.bench]); run it with
// bench/layer_unpack.sh. Both unpack the same gzip tarball into fresh directories in the same
// round, alternating who goes first, and the medians are compared.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "ckms/base/io.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "layer_headers.hpp"
#include "testkit.hpp"

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

TEST_CASE("unpacking a kernel headers layer is as fast as GNU tar", "[.bench]") {
  const auto headers = ckms::testing::installed_headers();
  if (!headers) {
    WARN("no kernel headers installed under /usr/src");
    return;
  }
  ckms::testkit::TempDir dir("ckms-layer-bench");
  const fs::path tarball = dir / "headers.tar.gz";
  std::vector<std::string> create = {"tar", "-C", "/", "-czf", tarball.string()};
  create.insert(create.end(), headers->relative_dirs.begin(), headers->relative_dirs.end());
  REQUIRE(ckms::testkit::run(create).exit_code == 0);

  const char* rounds_text = std::getenv("CKMS_BENCH_ROUNDS");
  const int rounds = rounds_text ? std::max(1, std::atoi(rounds_text)) : 5;
  std::vector<double> tar_times, ckms_times;
  std::uint64_t entries = 0;
  for (int round = 0; round < rounds; ++round) {
    const auto run_tar = [&] {
      const fs::path target = dir / "tar";
      fs::create_directory(target);
      const auto start = std::chrono::steady_clock::now();
      REQUIRE(ckms::testkit::run({"tar", "-C", target.string(), "-xzf", tarball.string()}).exit_code == 0);
      tar_times.push_back(seconds_since(start));
      fs::remove_all(target);
    };
    const auto run_ckms = [&] {
      const fs::path target = dir / "ckms";
      fs::create_directory(target);
      const auto start = std::chrono::steady_clock::now();
      ckms::FileReader reader(tarball);
      entries = ckms::oci::apply_layer(reader, target).entries;
      ckms_times.push_back(seconds_since(start));
      fs::remove_all(target);
    };
    if (round % 2 == 0) {
      run_tar();
      run_ckms();
    } else {
      run_ckms();
      run_tar();
    }
  }
  const double ratio = median(ckms_times) / median(tar_times);
  std::printf("layer unpack: %s, %llu entries, %lld bytes gzip, %d rounds\n", headers->release.c_str(),
              static_cast<unsigned long long>(entries), static_cast<long long>(fs::file_size(tarball)), rounds);
  std::printf("  GNU tar -xzf median %.3f s, ckms median %.3f s, ratio ckms/tar %.2f\n", median(tar_times),
              median(ckms_times), ratio);
  CHECK(entries > 10000);
}
