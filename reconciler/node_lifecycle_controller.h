// reconciler/node_lifecycle_controller.h — notices nodes that stopped
// talking to the cluster and moves their pods away (Kubernetes' node
// lifecycle controller with taint-based eviction).
//
// A node is alive while its Lease (kube-node-lease/<node>, spec.renewTime,
// renewed by `bosun node` every 5 s) or its Ready condition's
// lastHeartbeatTime keeps changing. Like Kubernetes, the controller times
// those changes by its own clock when it sees them (never by the timestamps'
// values, so clock skew between machines does not matter): a node is given
// the grace period from the moment the controller first sees it, or from its
// last observed renewal.
//
// A node silent for longer than `node_monitor_grace`:
//  - gets its Ready (and pressure) conditions set to Unknown, reason
//    NodeStatusUnknown, "Kubelet stopped posting node status." (status
//    subresource; lastHeartbeatTime kept), Event NodeNotReady;
//  - gets the taints node.kubernetes.io/unreachable:NoSchedule and
//    node.kubernetes.io/unreachable:NoExecute (with timeAdded), so the
//    scheduler places nothing there;
//  - once it has been unreachable for `pod_eviction_timeout`, its pods that
//    have not finished are deleted (Event TaintManagerEviction on each pod)
//    and their controllers create replacements, which the scheduler puts on
//    other nodes. A pod that tolerates unreachable:NoExecute stays for its
//    tolerationSeconds instead, or for good without them.
// When the node renews again the controller removes the unreachable taints;
// the node daemon itself writes Ready=True with its next status.
//
// Decisions use ControllerManager::clock() (Monotonic); re-checks are
// scheduled with Reconciled::After.
//
// Thread-safety: the controller's reconciles run on the manager's workers.
#pragma once

#include <chrono>

#include "core/result.h"
#include "reconciler/controller.h"

namespace bosun::reconciler {

inline constexpr const char* kUnreachableTaint = "node.kubernetes.io/unreachable";
inline constexpr const char* kNodeLeaseNamespace = "kube-node-lease";

struct NodeLifecycleOptions {
  // How long a node may be silent before it is marked Unknown and tainted.
  std::chrono::milliseconds node_monitor_grace{std::chrono::seconds(40)};
  // How long after that its pods are evicted.
  std::chrono::milliseconds pod_eviction_timeout{std::chrono::seconds(60)};
  int workers = 2;
};

// Registers the controller (and its Node, Lease and Pod informers) with
// `mgr`; call before mgr.Start.
Status AddNodeLifecycleController(ControllerManager& mgr, const NodeLifecycleOptions& options = {});

}  // namespace bosun::reconciler
