// reconciler/deployment_internal.h — one reconcile of one Deployment
// (private to deployment_controller.cc and deployment_rollout.cc). The
// steps and their names follow Kubernetes' pkg/controller/deployment
// (sync.go, rolling.go, recreate.go, progress.go) so a reader can hold the
// two side by side.
//
// DeploymentSync holds working copies: the Deployment (its status edited in
// place and written with WriteStatus) and the ReplicaSets it controls (each
// replaced by the API's answer after a write, which also goes into the
// shared informer).
//
// Two deliberate differences from Kubernetes, so that the bounds hold on the
// pods that really exist even while a ReplicaSet's status lags its spec:
//  - for maxSurge a ReplicaSet counts as max(spec.replicas, status.replicas)
//    pods (a ReplicaSet just scaled down still has its pods until its
//    controller deleted them);
//  - for maxUnavailable it counts min(status.availableReplicas,
//    spec.replicas) available pods (the pods it is about to delete are not
//    counted on).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/selector.h"
#include "reconciler/controller.h"
#include "reconciler/deployment_util.h"

namespace bosun::reconciler::apps {

inline constexpr const char* kProgressing = "Progressing";
inline constexpr const char* kAvailable = "Available";
inline constexpr const char* kReplicaFailure = "ReplicaFailure";
// Progressing reasons.
inline constexpr const char* kNewRSCreatedReason = "NewReplicaSetCreated";
inline constexpr const char* kFoundNewRSReason = "FoundNewReplicaSet";
inline constexpr const char* kRSUpdatedReason = "ReplicaSetUpdated";
inline constexpr const char* kNewRSAvailableReason = "NewReplicaSetAvailable";
inline constexpr const char* kTimedOutReason = "ProgressDeadlineExceeded";
inline constexpr const char* kPausedReason = "DeploymentPaused";
inline constexpr const char* kResumedReason = "DeploymentResumed";
inline constexpr const char* kFailedRSCreateReason = "ReplicaSetCreateError";

struct DeploymentInformers {
  SharedInformer& deployments;
  SharedInformer& sets;
  SharedInformer& pods;
};

class DeploymentSync {
 public:
  DeploymentSync(ControllerManager& mgr, DeploymentInformers inf, const Object& deployment);
  Result<Reconciled> Run();

 private:
  // deployment_controller.cc: claiming, the new ReplicaSet, status.
  Status ClaimReplicaSets(const Selector& selector);
  // Finds (and with `create`, creates) the new ReplicaSet; sets new_.
  Status GetNewReplicaSet(bool create);
  std::optional<size_t> FindNewReplicaSet() const;
  Status CheckPausedConditions();
  bool IsScalingEvent() const;
  Json CalculateStatus() const;
  Result<Reconciled> SyncRolloutStatus();
  Status SyncDeploymentStatus();
  Status WriteStatus();
  Status StillExists();
  // Writes rs_[i] changed (spec, annotations) and keeps the API's answer.
  Status UpdateReplicaSet(size_t i, const Object& changed);
  Json& MutableStatus();

  // deployment_rollout.cc: the strategies and scaling.
  Result<Reconciled> Sync();  // paused or scaling: no rollout progress
  Result<Reconciled> RolloutRolling();
  Result<Reconciled> RolloutRecreate();
  Status Scale();
  Result<bool> ReconcileNewReplicaSet();
  Result<bool> ReconcileOldReplicaSets();
  Result<int32_t> CleanupUnhealthyReplicas(std::vector<size_t> olds, int32_t max_cleanup);
  Result<int32_t> ScaleDownOldReplicaSetsForRollingUpdate(std::vector<size_t> olds);
  Result<bool> ScaleReplicaSet(size_t i, int32_t replicas);
  Status CleanupDeployment();
  bool OldPodsRunning() const;
  int32_t NewRSNewReplicas(const Object* new_rs) const;

  // Helpers over rs_.
  std::vector<size_t> Olds() const;        // every ReplicaSet but the new one
  std::vector<size_t> ActiveOlds() const;  // those with spec.replicas > 0
  std::vector<size_t> All() const;         // olds then the new one
  int32_t SumSpec(const std::vector<size_t>& idx) const;
  int32_t SumStatus(const std::vector<size_t>& idx, const char* field) const;
  int32_t Available(const Object& rs) const;  // min(status.availableReplicas, spec)
  int32_t Pods(const Object& rs) const;       // max(spec, status.replicas)
  bool HasProgressDeadline() const;
  bool DeploymentComplete(const Json& status) const;
  std::string Now() const;

  ControllerManager& mgr_;
  DeploymentInformers inf_;
  Object d_;               // the Deployment; status edited in place
  Json written_status_;    // d_'s status as the API holds it
  Strategy strategy_;
  int32_t replicas_ = 1;   // d_.spec.replicas
  std::vector<Object> rs_;  // claimed ReplicaSets, oldest first
  std::optional<size_t> new_;
};

}  // namespace bosun::reconciler::apps
