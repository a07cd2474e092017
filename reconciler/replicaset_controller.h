// reconciler/replicaset_controller.h — the ReplicaSet controller, with
// Kubernetes' semantics (pkg/controller/replicaset):
//
// - It keeps spec.replicas (default 1) active pods that match spec.selector
//   and that the ReplicaSet controls (ownerReferences: controller: true,
//   blockOwnerDeletion: true). Orphans that match are adopted; pods it
//   controls that no longer match are released.
// - Missing pods are created from spec.template with generateName
//   "<replicaset>-" (the API adds 5 random characters), in one batch
//   transaction of at most 500 pods per reconcile. Each created pod goes
//   into the shared Pod informer at once, so the next reconcile counts it
//   and never creates it twice.
// - Surplus pods are deleted in Kubernetes' order: unscheduled before
//   scheduled, Pending before Unknown before Running, not ready before ready,
//   lower controller.kubernetes.io/pod-deletion-cost first, more pods of this
//   ReplicaSet on the same node first, ready for less time before longer,
//   more restarts before fewer, newer before older.
// - Pods that Succeeded or Failed count as gone: a Failed pod is deleted and
//   replaced (a Succeeded one is left for inspection and not counted).
// - status: replicas (active pods), fullyLabeledReplicas (whose labels carry
//   all of the template's), readyReplicas, availableReplicas (Ready since at
//   least minReadySeconds; a pod not yet there brings the ReplicaSet back
//   when it will be), observedGeneration, and the ReplicaFailure condition
//   (reason FailedCreate) while creating pods fails.
// - Events on the ReplicaSet: SuccessfulCreate "Created pod: web-abc12",
//   SuccessfulDelete "Deleted pod: web-abc12", FailedCreate (Warning).
//
// Deleting a ReplicaSet's pods when it is deleted is the garbage collector's
// job, not this controller's.
#pragma once

#include "core/result.h"
#include "reconciler/controller.h"

namespace bosun::reconciler {

// Adds the controller to `mgr` (its informers of ReplicaSets and Pods, and
// the handlers that enqueue a ReplicaSet when it or one of its pods changes).
// Call before mgr.Start.
Status AddReplicaSetController(ControllerManager& mgr);

}  // namespace bosun::reconciler
