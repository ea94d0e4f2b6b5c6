#include "registry_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace ckms::testkit {
namespace fs = std::filesystem;
namespace {

constexpr const char* kService = "ckms-test-registry";
constexpr const char* kIssuer = "ckms-test-issuer";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 206: return "Partial Content";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

void send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

std::multimap<std::string, std::string> query_params(const std::string& target) {
  std::multimap<std::string, std::string> out;
  const auto q = target.find('?');
  if (q == std::string::npos) return out;
  std::stringstream stream(target.substr(q + 1));
  std::string item;
  while (std::getline(stream, item, '&')) {
    const auto eq = item.find('=');
    out.emplace(url_decode(item.substr(0, eq)), eq == std::string::npos ? "" : url_decode(item.substr(eq + 1)));
  }
  return out;
}

std::string base64url(std::string_view bytes) {
  std::string out = oci::base64_encode(bytes);
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

void make_certificate(const fs::path& key, const fs::path& cert, const std::string& subject, bool with_ip_san) {
  std::vector<std::string> argv{"openssl",    "req",  "-x509",       "-newkey", "rsa:2048", "-nodes", "-keyout",
                                key.string(), "-out", cert.string(), "-days",   "2",        "-subj",  "/CN=" + subject};
  if (with_ip_san) {
    argv.insert(argv.end(), {"-addext", "subjectAltName=IP:127.0.0.1"});
  }
  const RunResult result = run(argv);
  if (result.exit_code != 0) throw std::runtime_error("openssl req failed: " + result.err);
}

}  // namespace

// ---- LoopbackHttpServer ----

LoopbackHttpServer::LoopbackHttpServer(Handler handler) : handler_(std::move(handler)) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 64) != 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

LoopbackHttpServer::~LoopbackHttpServer() {
  stop_ = true;
  thread_.join();
  ::close(listener_);
}

void LoopbackHttpServer::serve() {
  while (!stop_) {
    pollfd pfd{listener_, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    const int connection = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) continue;
    handle(connection);
    ::close(connection);
  }
}

void LoopbackHttpServer::handle(int connection) {
  std::string data;
  char buffer[16384];
  std::size_t header_end = std::string::npos;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto receive = [&]() {
    pollfd pfd{connection, POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) return std::chrono::steady_clock::now() < deadline;
    const ssize_t n = ::recv(connection, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    data.append(buffer, static_cast<std::size_t>(n));
    return true;
  };
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!receive()) return;
  }
  HttpExchange exchange;
  std::stringstream head(data.substr(0, header_end));
  std::string line;
  std::getline(head, line);
  std::stringstream request_line(line);
  request_line >> exchange.method >> exchange.target;
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    exchange.headers[lower(line.substr(0, colon))] = value;
  }
  const std::size_t length =
      exchange.headers.contains("content-length") ? std::stoul(exchange.headers["content-length"]) : 0;
  while (data.size() - header_end - 4 < length) {
    if (!receive()) return;
  }
  exchange.body = data.substr(header_end + 4, length);
  ++requests_;
  const HttpReply reply = handler_(exchange);
  std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason(reply.status) + "\r\n";
  for (const auto& [name, value] : reply.headers) out += name + ": " + value + "\r\n";
  out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\nConnection: close\r\n\r\n";
  if (exchange.method != "HEAD") out += reply.body;
  send_all(connection, out);
}

// ---- RegistryFixture ----

RegistryFixture::RegistryFixture(RegistrySetup setup) : setup_(setup) {
  storage_ = dir_ / "storage";
  fs::create_directories(storage_);
  port_ = free_port();

  std::string http_section = "  addr: 127.0.0.1:" + std::to_string(port_) + "\n  secret: ckms-test-secret\n";
  std::string auth_section;
  if (setup_ == RegistrySetup::basic_tls) {
    make_certificate(dir_ / "tls.key", dir_ / "tls.crt", "127.0.0.1", true);
    ca_cert_ = dir_ / "tls.crt";
    http_section +=
        "  tls:\n    certificate: " + (dir_ / "tls.crt").string() + "\n    key: " + (dir_ / "tls.key").string() + "\n";
    const RunResult htpasswd = run({"htpasswd", "-Bbn", credentials_.username, credentials_.password});
    if (htpasswd.exit_code != 0) throw std::runtime_error("htpasswd failed: " + htpasswd.err);
    write_text(dir_ / "htpasswd", htpasswd.out);
    auth_section = "auth:\n  htpasswd:\n    realm: ckms-test\n    path: " + (dir_ / "htpasswd").string() + "\n";
  } else if (setup_ == RegistrySetup::token) {
    signing_key_ = dir_ / "token.key";
    make_certificate(signing_key_, dir_ / "token.crt", kIssuer, false);
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen((dir_ / "token.crt").c_str(), "r"), &std::fclose);
    X509* cert = PEM_read_X509(file.get(), nullptr, nullptr, nullptr);
    unsigned char* der = nullptr;
    const int der_size = i2d_X509(cert, &der);
    signing_cert_der_b64_ = oci::base64_encode(std::string_view(reinterpret_cast<char*>(der), der_size));
    OPENSSL_free(der);
    X509_free(cert);
    token_server_ = std::make_unique<LoopbackHttpServer>([this](const HttpExchange& e) { return issue_token(e); });
    auth_section = "auth:\n  token:\n    realm: http://" + token_server_->authority() +
                   "/token\n    service: " + kService + "\n    issuer: " + kIssuer +
                   "\n    rootcertbundle: " + (dir_ / "token.crt").string() + "\n";
  }
  write_text(dir_ / "config.yml",
             "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    "
             "rootdirectory: " +
                 storage_.string() + "\n  delete:\n    enabled: true\n  redirect:\n    disable: true\n" + "http:\n" +
                 http_section + auth_section);

  const std::string log = (dir_ / "registry.log").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::string program = "/usr/bin/docker-registry", serve = "serve", config = (dir_ / "config.yml").string();
  char* argv[] = {program.data(), serve.data(), config.data(), nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error(std::string("cannot start docker-registry: ") + std::strerror(rc));
  pid_ = pid;
  if (!wait_for_port(port_, 15000)) {
    throw std::runtime_error("docker-registry did not start listening on " + host() + ":\n" + this->log());
  }
}

RegistryFixture::~RegistryFixture() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 50; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
}

oci::RegistryReference RegistryFixture::reference(const std::string& repository, std::optional<std::string> tag) const {
  oci::RegistryReference ref;
  ref.registry = host();
  ref.repository = repository;
  ref.tag = std::move(tag);
  return ref;
}

oci::RegistryOptions RegistryFixture::options() const {
  oci::RegistryOptions options;
  options.plain_http = setup_ != RegistrySetup::basic_tls;
  options.ca_cert = ca_cert_;
  if (setup_ != RegistrySetup::open_http) options.credentials = credentials_;
  // An empty auth file keeps the developer's own credential files out of the tests.
  options.auth_file = dir_ / "no-credentials.json";
  options.initial_backoff = std::chrono::milliseconds(20);
  return options;
}

std::string RegistryFixture::log() const {
  try {
    return read_text(dir_ / "registry.log");
  } catch (...) {
    return {};
  }
}

void RegistryFixture::deny(const std::string& repository) {
  std::lock_guard lock(mutex_);
  denied_.insert(repository);
}

std::vector<std::string> RegistryFixture::requested_scopes() const {
  std::lock_guard lock(mutex_);
  return scopes_;
}

std::vector<std::vector<std::string>> RegistryFixture::token_requests() const {
  std::lock_guard lock(mutex_);
  return token_requests_;
}

void RegistryFixture::refuse_cross_repository_tokens() {
  std::lock_guard lock(mutex_);
  refuse_cross_repository_ = true;
}

std::vector<std::string> RegistryFixture::requests(const std::string& method_and_path) const {
  std::vector<std::string> out;
  std::istringstream lines(log());
  for (std::string line; std::getline(lines, line);) {
    if (line.find("\"" + method_and_path) != std::string::npos) out.push_back(line);
  }
  return out;
}

HttpReply RegistryFixture::issue_token(const HttpExchange& request) {
  const auto params = query_params(request.target);
  std::string subject;
  if (auto it = request.headers.find("authorization"); it != request.headers.end()) {
    const auto expected = "Basic " + oci::base64_encode(credentials_.username + ":" + credentials_.password);
    if (it->second != expected) {
      return {401, {{"Content-Type", "application/json"}}, R"({"details":"invalid username or password"})"};
    }
    subject = credentials_.username;
  }
  nlohmann::json access = nlohmann::json::array();
  {
    std::lock_guard lock(mutex_);
    std::vector<std::string> scopes;
    std::set<std::string> repositories;
    for (auto [it, end] = params.equal_range("scope"); it != end; ++it) {
      scopes.push_back(it->second);
      const auto first = it->second.find(':'), last = it->second.rfind(':');
      if (first != last) repositories.insert(it->second.substr(first + 1, last - first - 1));
    }
    token_requests_.push_back(scopes);
    const bool refused = refuse_cross_repository_ && repositories.size() > 1;
    for (auto [it, end] = params.equal_range("scope"); it != end; ++it) {
      scopes_.push_back(it->second);
      const std::string& scope = it->second;
      const auto first = scope.find(':');
      const auto last = scope.rfind(':');
      if (first == std::string::npos || first == last) continue;
      const std::string name = scope.substr(first + 1, last - first - 1);
      // Anonymous callers get nothing: every setup that issues tokens requires a login.
      if (subject.empty() || denied_.contains(name) || refused) continue;
      nlohmann::json actions = nlohmann::json::array();
      std::stringstream list(scope.substr(last + 1));
      std::string action;
      while (std::getline(list, action, ',')) actions.push_back(action);
      access.push_back({{"type", scope.substr(0, first)}, {"name", name}, {"actions", actions}});
    }
  }
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const nlohmann::json claims = {{"iss", kIssuer},
                                 {"sub", subject},
                                 {"aud", kService},
                                 {"exp", now + 300},
                                 {"nbf", now - 10},
                                 {"iat", now},
                                 {"jti", std::to_string(std::random_device{}())},
                                 {"access", access}};
  const std::string token = sign_jwt(claims.dump());
  const nlohmann::json reply = {{"token", token}, {"access_token", token}, {"expires_in", 300}};
  return {200, {{"Content-Type", "application/json"}}, reply.dump()};
}

std::string RegistryFixture::sign_jwt(const std::string& payload) const {
  const nlohmann::json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"x5c", {signing_cert_der_b64_}}};
  const std::string input = base64url(header.dump()) + "." + base64url(payload);
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(signing_key_.c_str(), "r"), &std::fclose);
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr),
                                                     &EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::size_t size = 0;
  if (!key || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, reinterpret_cast<const unsigned char*>(input.data()), input.size()) !=
          1) {
    throw std::runtime_error("cannot sign a test token");
  }
  std::string signature(size, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  signature.resize(size);
  return input + "." + base64url(signature);
}

}  // namespace ckms::testkit
