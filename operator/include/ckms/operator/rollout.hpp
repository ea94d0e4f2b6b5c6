#pragma once
// Ordered upgrades: when the version changes, nodes move from the older version's loader
// DaemonSet to the new one's in batches of at most spec.maxUnavailable, as the DaemonSet
// controller's rollingUpdate (pkg/controller/daemon/update.go, maxSurge 0) replaces pods.
// A node moves in two steps: it is unpinned from the older loader (whose preStop unloads
// the older build), and only once that pod is gone is it pinned to the new loader (which
// loads the new build), so a node never runs both. A node labelled hold.ckms.io/NAME
// keeps its older build; a node whose new loader fails stops the rollout.

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/operator/reconcile.hpp"

namespace ckms::op {

struct RolloutPlan {
  std::map<std::string, std::vector<std::string>> current;  // release -> nodes for spec.version's loader
  std::map<std::string, std::vector<std::string>> older;    // older loader's name -> the nodes it keeps
                                                            // (one not listed has none left: it goes)
  std::map<std::string, std::string> older_version;         // node on an older build -> that version
  std::set<std::string> upgrading;                          // between the older build and the new
  std::set<std::string> held;                               // kept on an older build by the hold label
  std::string stopped_at, stopped_why;                      // the new loader that fails, and its words
  int max_unavailable = 0;
  bool active = false;  // an older loader or its pod still exists

  bool on_older_build(const std::string& node) const { return older_version.contains(node); }
};

// `kernels`: selected nodes by release; `published`: releases whose spec.version artifact
// exists (their new loader may be made). Loaders of releases not published keep their nodes.
RolloutPlan plan_rollout(const Observed& observed, const std::map<std::string, std::vector<std::string>>& kernels,
                         const std::set<std::string>& published);

// The loader DaemonSet of spec.version for `release` (loader_name()), unless being deleted.
const nlohmann::json* current_loader(const Observed& observed, const std::string& release);
// The older loaders (another name than loader_name(), not being deleted) of `release`.
std::vector<const nlohmann::json*> older_loaders(const Observed& observed, const std::string& release);

}  // namespace ckms::op
