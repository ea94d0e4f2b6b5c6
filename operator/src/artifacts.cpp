#include "ckms/operator/artifacts.hpp"

#include <algorithm>
#include <condition_variable>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/reference.hpp"

namespace ckms::op {
namespace {

using Clock = std::chrono::steady_clock;

bool mentions(const std::string& text, std::initializer_list<std::string_view> words) {
  for (const auto word : words)
    if (text.find(word) != std::string::npos) return true;
  return false;
}

// The registry client reports transport failures in libcurl's words ("Could not resolve
// host", "SSL certificate problem", "Operation timed out", "Connection timeout after N ms",
// "Failed to connect").
Silence why_silent(const Error& e) {
  const std::string text = e.what();
  if (e.kind() == ErrorKind::auth) return Silence::unauthorized;
  if (mentions(text, {"resolve host", "resolve proxy"})) return Silence::dns;
  if (mentions(text, {"SSL", "TLS", "certificate"})) return Silence::tls;
  if (mentions(text, {"timed out", "Timeout", "timeout"})) return Silence::timeout;
  if (mentions(text, {"connect"})) return Silence::refused;
  return Silence::other;
}

ArtifactCheck check_one(oci::RegistryRepository& repository, const std::string& tag) {
  try {
    repository.resolve(tag);
    return {Availability::published};
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found) return {Availability::missing};
    return {Availability::unknown, why_silent(e), e.what()};
  }
}

// A registry that did not take the connection (or the TLS handshake) will not take the
// next one within the same check either.
bool unreachable(const ArtifactCheck& check) {
  return check.why == Silence::dns || check.why == Silence::tls || check.why == Silence::refused ||
         check.why == Silence::timeout;
}

}  // namespace

std::chrono::milliseconds connect_timeout_within(const oci::RegistryOptions& options,
                                                 std::chrono::milliseconds deadline) {
  const int attempts = std::max(options.max_attempts, 1);
  // A tenth is left for the exchange after connecting and for the answer to be reported.
  std::chrono::milliseconds budget = deadline * 9 / 10;
  for (int attempt = 1; attempt < attempts; ++attempt)  // the client's backoffs between attempts
    budget -= std::min<std::chrono::milliseconds>(options.initial_backoff * (1LL << std::min(attempt - 1, 20)),
                                                  options.max_backoff);
  const auto per_attempt = std::max(budget / attempts, std::chrono::milliseconds(100));
  return std::min(options.connect_timeout, per_attempt);
}

std::string_view to_string(Silence why) {
  switch (why) {
    case Silence::none: return "answered";
    case Silence::dns: return "DNS lookup failed";
    case Silence::tls: return "TLS failed";
    case Silence::unauthorized: return "credentials refused";
    case Silence::timeout: return "timed out";
    case Silence::refused: return "connection failed";
    case Silence::other: return "error";
  }
  return "error";
}

struct RegistryArtifactChecker::Pending {
  std::mutex mutex;
  std::condition_variable answered;
  std::map<std::string, ArtifactCheck> results;
  bool done = false;
};

RegistryArtifactChecker::Client& RegistryArtifactChecker::client_for(const std::string& module,
                                                                     const KernelModuleSpec& spec) {
  const std::string identity = fmt::format("{} {}", spec.repository, spec.registry.plain_http);
  Client& client = clients_[module];
  if (client.identity != identity || !client.repository) {
    oci::RegistryOptions options = base_;
    const auto reference = oci::Reference::parse(spec.repository).registry();
    if (spec.registry.plain_http) options.insecure_registries.push_back(reference.registry);
    options.connect_timeout = connect_timeout_within(options, deadline_);
    client.identity = identity;
    client.repository = std::make_shared<oci::RegistryRepository>(reference, options);
    ++clients_made_;
  }
  return client;
}

void RegistryArtifactChecker::retain(const std::set<std::string>& modules) {
  std::erase_if(clients_, [&](const auto& entry) { return !modules.contains(entry.first); });
}

std::map<std::string, ArtifactCheck> RegistryArtifactChecker::check(const std::string& module,
                                                                    const KernelModuleSpec& spec,
                                                                    const std::vector<std::string>& releases,
                                                                    const std::atomic<bool>& stop) {
  std::map<std::string, ArtifactCheck> out;
  Client* client = nullptr;
  try {
    client = &client_for(module, spec);
  } catch (const Error& e) {
    for (const auto& r : releases) out[r] = {Availability::unknown, Silence::other, e.what()};
    return out;
  }
  if (client->in_flight) {
    std::lock_guard lock(client->in_flight->mutex);
    if (!client->in_flight->done) {
      for (const auto& r : releases)
        out[r] = {Availability::unknown, Silence::timeout, "the previous check of this registry has not ended"};
      return out;
    }
  }
  auto pending = std::make_shared<Pending>();
  client->in_flight = pending;
  std::vector<std::pair<std::string, std::string>> tags;
  for (const auto& r : releases) tags.emplace_back(r, artifact::kernel_tag(spec.version, r));
  // Detached: a registry that never answers must not hold the reconcile or the stop. The
  // thread owns what it touches (the client and the results) through shared pointers.
  std::thread([pending, repository = client->repository, tags] {
    std::optional<ArtifactCheck> no_connection;
    for (const auto& [release, tag] : tags) {
      ArtifactCheck result = no_connection ? *no_connection : check_one(*repository, tag);
      if (unreachable(result)) no_connection = result;
      std::lock_guard lock(pending->mutex);
      pending->results[release] = std::move(result);
      pending->answered.notify_all();
    }
    std::lock_guard lock(pending->mutex);
    pending->done = true;
    pending->answered.notify_all();
  }).detach();

  const auto deadline = Clock::now() + deadline_;
  std::unique_lock lock(pending->mutex);
  while (!pending->done && !stop && Clock::now() < deadline)
    pending->answered.wait_for(lock, std::chrono::milliseconds(100));
  for (const auto& r : releases) {
    const auto it = pending->results.find(r);
    out[r] = it != pending->results.end() ? it->second
                                          : ArtifactCheck{Availability::unknown, Silence::timeout,
                                                          fmt::format("no answer within {} ms", deadline_.count())};
  }
  return out;
}

}  // namespace ckms::op
