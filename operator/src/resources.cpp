#include "ckms/operator/resources.hpp"

#include <fmt/format.h>

namespace ckms::op {

std::string Resource::api_version() const {
  return group.empty() ? std::string(version) : fmt::format("{}/{}", group, version);
}

std::string Resource::collection(std::string_view ns) const {
  const std::string base = group.empty() ? fmt::format("/api/{}", version) : fmt::format("/apis/{}/{}", group, version);
  if (!namespaced) return fmt::format("{}/{}", base, plural);
  return fmt::format("{}/namespaces/{}/{}", base, ns, plural);
}

std::string Resource::object(std::string_view ns, std::string_view name, std::string_view subresource) const {
  std::string path = fmt::format("{}/{}", collection(ns), name);
  if (!subresource.empty()) path += fmt::format("/{}", subresource);
  return path;
}

std::string owned_selector() { return fmt::format("{}%3D{}", label::managed_by, label::managed_by_value); }

std::vector<Permission> required_permissions() {
  // Informers list, then watch. Workloads are created, replaced and deleted, and read one
  // by one only after a 409; status is read again after a 409 too. Nothing is patched.
  return {
      {"ckms.io", "kernelmodules", {"list", "watch"}},
      {"ckms.io", "kernelmodules/status", {"get", "update"}},
      {"", "nodes", {"list", "watch"}, true},
      {"batch", "jobs", {"create", "delete", "get", "list", "watch"}},
      {"apps", "daemonsets", {"create", "delete", "get", "list", "update", "watch"}},
      {"", "pods", {"list", "watch"}},
      {"", "events", {"create"}},
  };
}

}  // namespace ckms::op
