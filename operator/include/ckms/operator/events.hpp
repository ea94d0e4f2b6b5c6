#pragma once
// core/v1 Events about a KernelModule, so `kubectl describe kernelmodule` shows why a build
// or a load failed. An event's name is derived from what it says, so saying the same thing
// again (in this process, or after a restart) creates nothing new.

#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ckms/operator/kernel_module.hpp"
#include "ckms/operator/kube_client.hpp"

namespace ckms::op {

inline constexpr std::string_view kComponent = "ckms-operator";

nlohmann::json make_event(const KernelModule& module, std::string_view type, std::string_view reason,
                          std::string_view message, std::string_view now);

class EventRecorder {
 public:
  explicit EventRecorder(KubeClient& client) : client_(client) {}
  // Returns true when an Event was created now. Failures to record are not errors of the
  // reconcile: they throw nothing and return false.
  bool record(const KernelModule& module, std::string_view type, std::string_view reason, std::string_view message,
              std::string_view now);

 private:
  KubeClient& client_;
  std::set<std::string> recorded_;
};

}  // namespace ckms::op
