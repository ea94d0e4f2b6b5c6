#include "ckms/oci/target.hpp"

#include <chrono>
#include <thread>

#include "ckms/oci/manifest.hpp"
#include "ckms/oci/registry.hpp"
#include "ckms/oci/verifying_reader.hpp"

namespace ckms::oci {
namespace {

class OwningVerifyingReader final : public Reader {
 public:
  OwningVerifyingReader(std::unique_ptr<Reader> inner, const Descriptor& descriptor, std::string what)
      : inner_(std::move(inner)), verifier_(*inner_, descriptor.digest, descriptor.size, std::move(what)) {}
  std::size_t read(std::span<std::byte> buffer) override { return verifier_.read(buffer); }

 private:
  std::unique_ptr<Reader> inner_;
  VerifyingReader verifier_;
};

}  // namespace

std::unique_ptr<Reader> verified(std::unique_ptr<Reader> inner, const Descriptor& descriptor, std::string what) {
  return std::make_unique<OwningVerifyingReader>(std::move(inner), descriptor, std::move(what));
}

std::string fetch_bytes(Target& target, const Descriptor& descriptor) {
  auto reader = target.fetch(descriptor);
  return read_all(*reader, kMaxManifestBytes, fmt::format("{} in {}", descriptor.digest.str(), target.describe()));
}

void push_bytes(Target& target, const Descriptor& descriptor, std::string_view bytes) {
  StringReader reader{std::string(bytes)};
  target.push(descriptor, reader);
}

Stored push_file(Target& target, const Descriptor& descriptor, const std::filesystem::path& file,
                 const ProgressFn& progress, int attempts) {
  for (int attempt = 1;; ++attempt) {
    try {
      FileReader reader(file);
      return target.push(descriptor, reader, progress);
    } catch (const InterruptedUpload&) {
      if (attempt >= attempts) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250) * attempt);
  }
}

}  // namespace ckms::oci
