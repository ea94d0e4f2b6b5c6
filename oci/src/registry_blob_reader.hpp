#pragma once
// A blob download that survives a dropped connection: it re-requests the rest with
// `Range: bytes=<received>-` (and skips what it already has when the server ignores the
// range), a bounded number of times. Private to oci/.

#include <memory>
#include <string>

#include "ckms/oci/http.hpp"
#include "registry_client.hpp"

namespace ckms::oci {

class ResumingBlobReader final : public Reader {
 public:
  // Opens the request at once, so a missing blob or a refusal is reported by fetch().
  ResumingBlobReader(RegistryClient& client, HttpRequest request, std::string what);
  std::size_t read(std::span<std::byte> buffer) override;

 private:
  void reopen();

  RegistryClient& client_;
  HttpRequest request_;
  std::string what_;
  std::unique_ptr<HttpStream> stream_;
  std::uint64_t received_ = 0;
  std::uint64_t to_skip_ = 0;
  int resumes_ = 0;
};

}  // namespace ckms::oci
