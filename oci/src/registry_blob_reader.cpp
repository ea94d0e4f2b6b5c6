#include "registry_blob_reader.hpp"

#include <charconv>

namespace ckms::oci {

ResumingBlobReader::ResumingBlobReader(RegistryClient& client, HttpRequest request, std::string what)
    : client_(client), request_(std::move(request)), what_(std::move(what)) {
  stream_ = client_.open(request_, client_.pull_scope(), what_);
}

void ResumingBlobReader::reopen() {
  HttpRequest request = request_;
  request.headers.push_back(fmt::format("Range: bytes={}-", received_));
  stream_ = client_.open(request, client_.pull_scope(), what_);
  if (stream_->status() == 206) {
    const std::string range = stream_->headers().get("content-range").value_or("");
    std::uint64_t start = 0;
    const auto digits = range.find_first_of("0123456789");
    if (digits == std::string::npos ||
        std::from_chars(range.data() + digits, range.data() + range.size(), start).ec != std::errc{} ||
        start != received_) {
      fail(ErrorKind::registry, "{}: resumed at byte {} but the registry sent Content-Range '{}'", what_, received_,
           range);
    }
    return;
  }
  // A 200 is the whole blob again: drop what we delivered already.
  to_skip_ = received_;
}

std::size_t ResumingBlobReader::read(std::span<std::byte> buffer) {
  for (;;) {
    try {
      const std::size_t n = stream_->read(buffer);
      if (n == 0) return 0;
      if (to_skip_ > 0) {
        const std::size_t dropped = static_cast<std::size_t>(std::min<std::uint64_t>(n, to_skip_));
        to_skip_ -= dropped;
        if (dropped == n) continue;
        std::memmove(buffer.data(), buffer.data() + dropped, n - dropped);
        received_ += n - dropped;
        return n - dropped;
      }
      received_ += n;
      return n;
    } catch (const HttpTransportError& e) {
      if (!e.retryable() || resumes_ + 1 >= client_.options().max_attempts) {
        fail(ErrorKind::network, "{}: {} (after {} bytes and {} resume{})", what_, e.what(), received_, resumes_,
             resumes_ == 1 ? "" : "s");
      }
      ++resumes_;
      client_.backoff(resumes_, nullptr);
      reopen();
    }
  }
}

}  // namespace ckms::oci
