// reconciler/deployment_util.h — what the ReplicaSet and Deployment
// controllers share, with Kubernetes' meaning (pkg/controller/deployment/util,
// pkg/api/v1/pod, pkg/controller/controller_ref_manager.go):
//
// - reading the typed fields of a Deployment / ReplicaSet / Pod out of its
//   JSON with apps/v1's defaults (replicas 1, maxSurge and maxUnavailable
//   25%, revisionHistoryLimit 10, progressDeadlineSeconds 600);
// - pod readiness and availability (Ready for at least minReadySeconds);
// - the pod-template hash (FNV-32a of the template, rendered in Kubernetes'
//   "safe" alphabet) that names a Deployment's ReplicaSets;
// - maxSurge / maxUnavailable resolved against the replica count, rounding
//   surge up and unavailable down;
// - conditions set as Kubernetes sets them (lastTransitionTime kept while the
//   status stays);
// - claiming: adopting orphans that match a selector and releasing owned
//   objects that no longer do (the ControllerRefManager).
//
// Every function is pure except Claim, which writes through the client.
// All are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/kinds.h"
#include "core/object.h"
#include "core/result.h"
#include "core/selector.h"
#include "reconciler/shared_informer.h"
#include "state/client.h"

namespace bosun::reconciler::apps {

inline constexpr const char* kPodTemplateHashLabel = "pod-template-hash";
inline constexpr const char* kRevisionAnnotation = "deployment.kubernetes.io/revision";
inline constexpr const char* kDesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas";
inline constexpr const char* kMaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas";
inline constexpr const char* kPodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost";

// Field readers: a missing or mistyped field reads as the fallback.
std::string Str(const Json& j, const char* key);
int64_t Int(const Json& j, const char* key, int64_t fallback);

// spec.replicas (default 1) of a Deployment or ReplicaSet.
int32_t SpecReplicas(const Object& o);
// metadata.annotations[key] as an integer.
std::optional<int64_t> IntAnnotation(const Object& o, const char* key);

// Pods.
std::string PodPhase(const Object& pod);
// Neither Succeeded nor Failed, and not being deleted.
bool PodActive(const Object& pod);
bool PodReady(const Object& pod);
// The Ready condition's lastTransitionTime, when it is True.
std::optional<WallTime> PodReadySince(const Object& pod);
// Ready, and for at least min_ready_seconds.
bool PodAvailable(const Object& pod, int64_t min_ready_seconds, WallTime now);
int64_t PodRestarts(const Object& pod);

// Conditions (status.conditions[]).
const Json* FindCondition(const Json& status, const std::string& type);
// Kubernetes' SetDeploymentCondition: no change when status and reason are
// the same; lastTransitionTime kept when only the reason changes. Returns
// true when status changed.
bool SetCondition(Json& status, const std::string& type, const std::string& value, const std::string& reason,
                  const std::string& message, const std::string& now);
bool RemoveCondition(Json& status, const std::string& type);

// Owner references.
OwnerReference ControllerRefTo(const Object& owner);  // controller + blockOwnerDeletion
bool IsControlledBy(const Object& o, const Object& owner);

// The pod-template hash of a Deployment's spec.template (and its
// status.collisionCount, when set): FNV-32a of the template's canonical JSON,
// printed in decimal and mapped digit by digit into "bcdfghjklmnpqrstvwxz2456789"
// (Kubernetes' ComputeHash + SafeEncodeString).
std::string PodTemplateHash(const Json& pod_template, std::optional<int64_t> collision_count);
// Templates equal once the pod-template-hash label is taken out of both.
bool EqualIgnoreHash(const Json& a, const Json& b);

// An int-or-percent (maxSurge, maxUnavailable) scaled against `total`:
// "25%" of 10 is 3 rounded up, 2 rounded down. Null reads as `fallback`.
Result<int32_t> ScaledValue(const Json& int_or_percent, const std::string& fallback, int32_t total, bool round_up);

// A Deployment's strategy.
struct Strategy {
  bool recreate = false;
  int32_t max_surge = 0;        // resolved against spec.replicas, rounded up
  int32_t max_unavailable = 0;  // rounded down; both 0 gives 1 (never stuck)
};
Result<Strategy> ResolveStrategy(const Object& deployment);
// Kubernetes' MaxUnavailable(): 0 for Recreate or 0 replicas, at most replicas.
int32_t MaxUnavailable(const Object& deployment, const Strategy& s);
int32_t MaxSurge(const Strategy& s);  // 0 for Recreate

// Claiming (the ControllerRefManager): of `candidates`, keeps those `owner`
// controls whose labels match `selector`, adopts orphans that match (adding a
// controller reference, after `can_adopt` confirms the owner still exists
// with its uid), and releases controlled objects that no longer match
// (removing the reference). Writes are Updates with a resourceVersion
// precondition, stored into `informer`. Returns the claimed objects; an
// object that vanished meanwhile is skipped, any other failed write is the
// error.
Result<std::vector<ObjectPtr>> Claim(state::Client& client, SharedInformer& informer, const Object& owner,
                                     const Selector& selector, const std::vector<ObjectPtr>& candidates,
                                     const std::function<Status()>& can_adopt);

}  // namespace bosun::reconciler::apps
