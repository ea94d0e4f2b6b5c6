#pragma once
// What the informers keep of the objects they watch. A node or pod as the API server sends
// it holds much the operator never reads (managedFields, the images a node has pulled,
// every volume and probe of a pod); in a cluster of thousands of pods that is hundreds of
// megabytes. Like a transform in client-go's SharedInformer (SetTransform), these cut each
// object on receipt, before it is cached or compared, to the fields reconcile reads.

#include <nlohmann/json.hpp>

namespace ckms::op {

// name, namespace, resourceVersion, labels, taints and status.nodeInfo.kernelVersion.
nlohmann::json trim_node(const nlohmann::json& node);

// What tells a loader's state: identity and the operator's own labels, the node it runs
// on, deletion and creation times, the phase, the Ready condition, and each container's
// readiness, restarts, waiting reason and termination (message and time).
nlohmann::json trim_pod(const nlohmann::json& pod);

// A Job's metadata (its name, labels, spec-hash and kernel annotations, owner) and its
// conditions (type, status, reason, message). The operator never writes a Job back: a
// changed spec deletes it and creates it anew from the KernelModule.
nlohmann::json trim_job(const nlohmann::json& job);

// A DaemonSet's metadata and the nodes it is pinned to. Re-pinning reads the object whole
// before writing it back (Applier).
nlohmann::json trim_daemon_set(const nlohmann::json& daemon_set);

// Everything but metadata.managedFields, which only server-side apply reads (an update
// that leaves them out keeps the server's).
nlohmann::json without_managed_fields(const nlohmann::json& object);

}  // namespace ckms::op
