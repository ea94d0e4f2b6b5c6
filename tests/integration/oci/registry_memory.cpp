// A 1 GiB blob through push and pull with flat memory, measured (VmHWM), not assumed.
// Its own executable so that nothing else in the process raises the high-water mark.

#include <catch2/catch.hpp>
#include <fstream>

#include "ckms/oci/copy.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/registry.hpp"
#include "registry_fixture.hpp"

using namespace ckms;
using namespace ckms::oci;

namespace {

constexpr std::uint64_t kBlobSize = 1ULL << 30;
constexpr std::uint64_t kLimitKiB = 64 << 10;

// Deterministic pseudo-random bytes, generated as they are read (xorshift64*).
class GeneratedReader final : public Reader {
 public:
  explicit GeneratedReader(std::uint64_t size) : left_(size) {}
  std::size_t read(std::span<std::byte> buffer) override {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, buffer.size()));
    for (std::size_t i = 0; i < n; ++i) {
      if (i % 8 == 0) {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        word_ = state_ * 0x2545F4914F6CDD1DULL;
      }
      buffer[i] = static_cast<std::byte>(word_ >> (8 * (i % 8)));
    }
    left_ -= n;
    return n;
  }

 private:
  std::uint64_t left_;
  std::uint64_t state_ = 0x9E3779B97F4A7C15ULL;
  std::uint64_t word_ = 0;
};

std::uint64_t vm_hwm_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

}  // namespace

TEST_CASE("a 1 GiB blob is pushed, pulled and copied with peak RSS under 64 MiB") {
  testkit::RegistryFixture registry(testkit::RegistrySetup::open_http);
  GeneratedReader for_digest(kBlobSize);
  Hasher hasher;
  std::vector<std::byte> buffer(kCopyBufferSize);
  while (std::size_t n = for_digest.read(buffer)) hasher.update(std::span<const std::byte>(buffer.data(), n));
  const Descriptor blob{
      std::string(media_type::kOciLayerTar), hasher.finish(), static_cast<std::int64_t>(kBlobSize), {}, {}, {}, {}};

  RegistryRepository repo(registry.reference("ckms/huge"), registry.options());
  GeneratedReader content(kBlobSize);
  repo.push(blob, content);
  const std::uint64_t after_push = vm_hwm_kib();
  WARN("VmHWM after push: " << after_push << " KiB");
  CHECK(after_push < kLimitKiB);
  CHECK(repo.exists(blob));

  auto reader = repo.fetch(blob);
  std::uint64_t total = 0;
  while (std::size_t n = reader->read(buffer)) total += n;  // the verifying reader checks the digest
  CHECK(total == kBlobSize);
  const std::uint64_t after_pull = vm_hwm_kib();
  WARN("VmHWM after pull: " << after_pull << " KiB");
  CHECK(after_pull < kLimitKiB);

  // Registry to registry: the download streams straight into the upload.
  testkit::RegistryFixture other(testkit::RegistrySetup::open_http);
  RegistryRepository destination(other.reference("ckms/huge"), other.options());
  CopyResult result{.root = blob};
  copy_graph(repo, destination, blob, CopyOptions{}, result);
  CHECK(result.bytes_uploaded == kBlobSize);
  CHECK(destination.exists(blob));
  const std::uint64_t after_copy = vm_hwm_kib();
  WARN("VmHWM after copy: " << after_copy << " KiB");
  CHECK(after_copy < kLimitKiB);
}
