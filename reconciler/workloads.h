// reconciler/workloads.h — every controller of the workloads issue, added to
// one ControllerManager in one call (what `bosun server` and `bosun up` run
// on the leader): the scheduler, ReplicaSets, Deployments, Jobs, node
// lifecycle, the garbage collector, namespace deletion, revision health with automated
// rollback, the Event TTL, and the SealedSecret controller.
#pragma once

#include <chrono>
#include <string>

#include "core/result.h"
#include "reconciler/controller.h"
#include "reconciler/revision_health.h"
#include "reconciler/sealedsecret_controller.h"

namespace bosun::reconciler {

struct WorkloadOptions {
  // LeastAllocated (spread) or MostAllocated (bin-packing).
  std::string scheduler_scoring = "LeastAllocated";
  // A node whose Lease is older than this is NotReady (Ready=Unknown) ...
  std::chrono::milliseconds node_monitor_grace{std::chrono::seconds(40)};
  // ... and its pods are evicted after it was not ready this long.
  std::chrono::milliseconds pod_eviction_timeout{std::chrono::seconds(60)};
  RevisionHealthOptions health;
  // Events are deleted this long after their last occurrence.
  std::chrono::milliseconds event_ttl{std::chrono::hours(1)};
  // The sealing key to import at start (--sealing-key-file), if any.
  SealedSecretOptions sealed_secrets;
};

Status AddWorkloadControllers(ControllerManager& mgr, const WorkloadOptions& options);

}  // namespace bosun::reconciler
