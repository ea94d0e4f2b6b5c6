// The HTTP layer against a loopback server: bodies streamed from a Reader, a Reader's error
// aborting an upload unchanged, and one client shared by several threads.

#include <catch2/catch.hpp>
#include <thread>

#include "ckms/base/error.hpp"
#include "ckms/oci/http.hpp"
#include "registry_fixture.hpp"

using namespace ckms;
using namespace ckms::oci;
using testkit::HttpExchange;
using testkit::HttpReply;
using testkit::LoopbackHttpServer;

namespace {

// Hands out `content` in small pieces, and throws instead once `fail_at` bytes have gone.
class PieceReader final : public Reader {
 public:
  PieceReader(std::string content, std::size_t fail_at = std::string::npos)
      : content_(std::move(content)), fail_at_(fail_at) {}
  std::size_t read(std::span<std::byte> buffer) override {
    if (offset_ >= fail_at_) fail(ErrorKind::integrity, "source went bad at byte {}", offset_);
    const std::size_t n = std::min({buffer.size(), content_.size() - offset_, std::size_t{1000}});
    std::memcpy(buffer.data(), content_.data() + offset_, n);
    offset_ += n;
    return n;
  }
  std::size_t offset() const { return offset_; }

 private:
  std::string content_;
  std::size_t fail_at_;
  std::size_t offset_ = 0;
};

std::string content_of(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131) ^ (i >> 9));
  return out;
}

HttpRequest patch_to(const LoopbackHttpServer& server) {
  HttpRequest request;
  request.method = "PATCH";
  request.url = "http://" + server.authority() + "/v2/test/blobs/uploads/1";
  request.headers.push_back("Content-Type: application/octet-stream");
  return request;
}

}  // namespace

TEST_CASE("an upload streams its body from a Reader with the declared length") {
  const std::string content = content_of(3 << 20);
  HttpExchange seen;
  LoopbackHttpServer server([&](const HttpExchange& request) -> HttpReply {
    seen = request;
    return {202, {{"Location", "/v2/test/blobs/uploads/2"}}, ""};
  });
  HttpClient client(HttpOptions{});
  PieceReader body(content);
  const HttpResponse response = client.upload(patch_to(server), body, content.size(), kMaxErrorBodyBytes);
  CHECK(response.status == 202);
  CHECK(response.headers.get("location") == "/v2/test/blobs/uploads/2");
  CHECK(seen.method == "PATCH");
  CHECK(seen.headers["content-length"] == std::to_string(content.size()));
  CHECK(seen.body.size() == content.size());
  CHECK(seen.body == content);
}

TEST_CASE("an error from the body's Reader aborts the upload and comes back unchanged") {
  LoopbackHttpServer server([](const HttpExchange&) -> HttpReply { return {202, {}, ""}; });
  HttpClient client(HttpOptions{});
  const std::string content = content_of(2 << 20);
  PieceReader body(content, 1 << 20);
  try {
    client.upload(patch_to(server), body, content.size(), kMaxErrorBodyBytes);
    FAIL("the upload completed");
  } catch (const HttpTransportError& e) {
    FAIL("the Reader's error became a transport error: " << e.what());
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::integrity);
    CHECK_THAT(e.what(), Catch::Contains("source went bad at byte"));
  }
  CHECK(body.offset() >= (1u << 20));
  // The server never saw a whole request, so it never answered one.
  CHECK(server.requests() == 0);
}

TEST_CASE("one HTTP client serves several threads at once") {
  LoopbackHttpServer server([](const HttpExchange& request) -> HttpReply {
    return {200, {}, "echo " + request.target};
  });
  HttpClient client(HttpOptions{});
  constexpr int kThreads = 4;
  constexpr int kRequests = 5;
  std::vector<std::string> failures(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kRequests; ++i) {
          HttpRequest request;
          request.url = "http://" + server.authority() + "/t" + std::to_string(t) + "/" + std::to_string(i);
          try {
            const HttpResponse response = client.exchange(request, 1024);
            if (response.body != "echo /t" + std::to_string(t) + "/" + std::to_string(i)) {
              failures[t] += "wrong body '" + response.body + "'; ";
            }
          } catch (const std::exception& e) {
            failures[t] += std::string(e.what()) + "; ";
          }
        }
      });
    }
  }
  for (const auto& failure : failures) CHECK(failure.empty());
  CHECK(server.requests() == kThreads * kRequests);
}
