#include "reconciler/workloads.h"

#include "reconciler/deployment_controller.h"
#include "reconciler/garbage_collector.h"
#include "reconciler/job_controller.h"
#include "reconciler/namespace_controller.h"
#include "reconciler/node_lifecycle_controller.h"
#include "reconciler/replicaset_controller.h"
#include "reconciler/scheduler.h"

namespace bosun::reconciler {

Status AddWorkloadControllers(ControllerManager& mgr, const WorkloadOptions& options) {
  SchedulerOptions so;
  so.scoring = options.scheduler_scoring == "MostAllocated" ? ScoringStrategy::kMostAllocated
                                                            : ScoringStrategy::kLeastAllocated;
  if (auto s = AddScheduler(mgr, so); !s) return s;
  if (auto s = AddReplicaSetController(mgr); !s) return s;
  if (auto s = AddDeploymentController(mgr); !s) return s;
  if (auto s = AddJobController(mgr); !s) return s;
  NodeLifecycleOptions nl;
  nl.node_monitor_grace = options.node_monitor_grace;
  nl.pod_eviction_timeout = options.pod_eviction_timeout;
  if (auto s = AddNodeLifecycleController(mgr, nl); !s) return s;
  if (auto s = AddGarbageCollector(mgr); !s) return s;
  if (auto s = AddNamespaceController(mgr); !s) return s;
  if (auto s = AddRevisionHealthController(mgr, options.health); !s) return s;
  if (auto s = AddEventTtlController(mgr, options.event_ttl); !s) return s;
  if (auto s = AddSealedSecretController(mgr, options.sealed_secrets); !s) return s;
  return Ok();
}

}  // namespace bosun::reconciler
