// reconciler/deployment_controller.h — the Deployment controller, with
// Kubernetes' semantics (pkg/controller/deployment). It manages ReplicaSets;
// the ReplicaSet controller (replicaset_controller.h) manages their pods.
//
// - ReplicaSets: one per pod template, named "<deployment>-<hash>" where the
//   hash is the pod-template hash (deployment_util.h; on a name collision
//   with a different template status.collisionCount goes up and the hash
//   changes). The hash is the label pod-template-hash on the ReplicaSet, in
//   its selector and in its pod template. Each carries the annotations
//   deployment.kubernetes.io/revision (1, 2, … in the order templates were
//   rolled out; rolling back to an old template gives its ReplicaSet the next
//   revision), desired-replicas and max-replicas. Matching orphan
//   ReplicaSets are adopted, ones that stop matching released.
// - RollingUpdate (default): the new ReplicaSet grows while the pods of all
//   ReplicaSets stay at most spec.replicas + maxSurge, old ones shrink while
//   the available pods stay at least spec.replicas - maxUnavailable (both
//   ints or percentages of spec.replicas, default 25%; surge rounds up,
//   unavailable down; both 0 counts as maxUnavailable 1). Unavailable old
//   pods are scaled away first. A pod is available once Ready for
//   minReadySeconds.
// - Recreate: old ReplicaSets go to 0, and only when no pod of theirs exists
//   any more is the new one created and scaled up.
// - Scaling (spec.replicas changed) resizes in place: one active ReplicaSet
//   takes the new size; in the middle of a rolling update the change is
//   spread over the ReplicaSets in proportion to their sizes, as Kubernetes
//   does (desired-replicas / max-replicas annotations).
// - spec.paused: scaling still happens, the rollout does not (no new
//   ReplicaSet, no progress, no deadline); Progressing=Unknown
//   DeploymentPaused, then DeploymentResumed on resume.
// - progressDeadlineSeconds (default 600): the Progressing condition — True
//   with NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated (on every
//   sign of progress, which restarts the clock) or NewReplicaSetAvailable
//   (complete); False with ProgressDeadlineExceeded and the message
//   `ReplicaSet "web-abc" has timed out progressing.` when no progress was
//   seen for that long (also a Warning Event). The controller comes back by
//   itself when the deadline would pass.
// - Available condition: True MinimumReplicasAvailable when available pods
//   >= spec.replicas - maxUnavailable, else False MinimumReplicasUnavailable.
//   A ReplicaSet's ReplicaFailure condition is copied up.
// - revisionHistoryLimit (default 10): old ReplicaSets beyond it that are at
//   0 replicas, with no pods, are deleted once a rollout completed.
// - status: replicas, updatedReplicas, readyReplicas, availableReplicas,
//   unavailableReplicas, conditions, observedGeneration, collisionCount.
// - Events on the Deployment: ScalingReplicaSet "Scaled up replica set
//   web-abc to 3" / "Scaled down replica set web-abc to 0",
//   ReplicaSetCreateError, ProgressDeadlineExceeded.
//
// Not done: the Deployment's own revision annotation (its metadata belongs
// to the GitOps sync, which would see it as drift) and rollbacks through
// spec.rollbackTo (gone from apps/v1; bosun rolls back with git revert).
#pragma once

#include "core/result.h"
#include "reconciler/controller.h"

namespace bosun::reconciler {

// Adds the controller to `mgr` (informers of Deployments, ReplicaSets and
// Pods, and the handlers that enqueue a Deployment when it, one of its
// ReplicaSets, or one of their pods changes). Call before mgr.Start.
Status AddDeploymentController(ControllerManager& mgr);

}  // namespace bosun::reconciler
