#pragma once
// Which kernels already have a published module artifact: the registry is asked for the
// per-kernel tag `<version>-<release>` (artifact::kernel_tag), the source of truth that
// `ckms build` writes and `ckms load` reads.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "ckms/oci/registry.hpp"
#include "ckms/operator/kernel_module.hpp"
#include "ckms/operator/reconcile.hpp"

namespace ckms::op {

// Why the registry gave no answer.
enum class Silence { none, dns, tls, unauthorized, timeout, refused, other };
std::string_view to_string(Silence why);

struct ArtifactCheck {
  Availability availability = Availability::unknown;
  Silence why = Silence::none;  // set when availability is unknown
  std::string message;          // the registry client's own words, for logs
};

// The connect timeout each attempt of a check gets: `options`' own, shortened so that every
// attempt of one request and the backoffs between them end within `deadline`. A registry
// that takes no connections is then answered "timed out" by libcurl itself, and the
// reconcile's deadline is not what ends the check.
std::chrono::milliseconds connect_timeout_within(const oci::RegistryOptions& options,
                                                 std::chrono::milliseconds deadline);

class ArtifactChecker {
 public:
  virtual ~ArtifactChecker() = default;
  // Asks about every release of `module` (namespace/name). Returns within the checker's
  // deadline, or soon after `stop` turns true; a release still unanswered then is unknown.
  virtual std::map<std::string, ArtifactCheck> check(const std::string& module, const KernelModuleSpec& spec,
                                                     const std::vector<std::string>& releases,
                                                     const std::atomic<bool>& stop) = 0;
  // Drops what is kept for modules (namespace/name) not in `modules`: deleted ones. Called
  // from the thread that calls check().
  virtual void retain(const std::set<std::string>& modules) = 0;
};

// Resolves the tags in the module repository. Not found means missing; anything else
// (unreachable, denied, too slow) is unknown, which reconcile treats as "change nothing".
// Each module keeps one registry client across checks (its connections and tokens are
// reused). The checks of a module run on a thread of their own, so a registry that accepts
// connections and never answers holds a reconcile no longer than `deadline` and a stop no
// longer than a tenth of a second; a check still hanging is abandoned to finish on its own,
// and the module is not asked again until it has. Connecting is bounded within `deadline`
// (connect_timeout_within), and a registry that could not be reached for one tag is not
// asked for the module's other tags in the same check.
class RegistryArtifactChecker final : public ArtifactChecker {
 public:
  // `base` carries --authfile and --ca-cert; plain HTTP comes from each spec.
  explicit RegistryArtifactChecker(oci::RegistryOptions base,
                                   std::chrono::milliseconds deadline = std::chrono::seconds(20))
      : base_(std::move(base)), deadline_(deadline) {}
  std::map<std::string, ArtifactCheck> check(const std::string& module, const KernelModuleSpec& spec,
                                             const std::vector<std::string>& releases,
                                             const std::atomic<bool>& stop) override;
  // A deleted module's client goes (a check of it still running ends on its own), so
  // memory stays flat as modules come and go.
  void retain(const std::set<std::string>& modules) override;
  // Registry clients made so far (one per module and repository), and those kept now.
  int clients_made() const { return clients_made_; }
  std::size_t clients_held() const { return clients_.size(); }

 private:
  struct Pending;
  struct Client {
    std::string identity;  // repository and transport it was made for
    std::shared_ptr<oci::RegistryRepository> repository;
    std::shared_ptr<Pending> in_flight;
  };
  Client& client_for(const std::string& module, const KernelModuleSpec& spec);

  oci::RegistryOptions base_;
  std::chrono::milliseconds deadline_;
  std::map<std::string, Client> clients_;
  int clients_made_ = 0;
};

}  // namespace ckms::op
