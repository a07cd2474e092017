// The Deployment controller's strategies and scaling (Kubernetes' rolling.go,
// recreate.go and sync.go's scale / cleanupDeployment).
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/log.h"
#include "reconciler/deployment_internal.h"

namespace bosun::reconciler::apps {
namespace {

int32_t StatusInt(const Object& o, const char* field) {
  return static_cast<int32_t>(Int(o.status(), field, 0));
}

bool CreatedBefore(const Object& a, const Object& b) {
  auto ta = ParseRfc3339(a.creation_timestamp());
  auto tb = ParseRfc3339(b.creation_timestamp());
  if (ta != tb) {
    if (!ta || !tb) return static_cast<bool>(ta);
    return *ta < *tb;
  }
  return a.name() < b.name();
}

}  // namespace

std::vector<size_t> DeploymentSync::Olds() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < rs_.size(); ++i) {
    if (!new_ || i != *new_) out.push_back(i);
  }
  return out;
}

std::vector<size_t> DeploymentSync::ActiveOlds() const {
  std::vector<size_t> out;
  for (size_t i : Olds()) {
    if (SpecReplicas(rs_[i]) > 0) out.push_back(i);
  }
  return out;
}

std::vector<size_t> DeploymentSync::All() const {
  std::vector<size_t> out = Olds();
  if (new_) out.push_back(*new_);
  return out;
}

int32_t DeploymentSync::SumSpec(const std::vector<size_t>& idx) const {
  int32_t n = 0;
  for (size_t i : idx) n += SpecReplicas(rs_[i]);
  return n;
}

int32_t DeploymentSync::SumStatus(const std::vector<size_t>& idx, const char* field) const {
  int32_t n = 0;
  for (size_t i : idx) n += StatusInt(rs_[i], field);
  return n;
}

int32_t DeploymentSync::Available(const Object& rs) const {
  return std::min(StatusInt(rs, "availableReplicas"), SpecReplicas(rs));
}

int32_t DeploymentSync::Pods(const Object& rs) const {
  return std::max(StatusInt(rs, "replicas"), SpecReplicas(rs));
}

int32_t DeploymentSync::NewRSNewReplicas(const Object* new_rs) const {
  if (strategy_.recreate) return replicas_;
  int32_t current = Pods(*new_rs);
  for (size_t i : Olds()) current += Pods(rs_[i]);
  const int32_t max_total = replicas_ + strategy_.max_surge;
  const int32_t have = SpecReplicas(*new_rs);
  if (current >= max_total) return have;
  return have + std::max(0, std::min(max_total - current, replicas_ - have));
}

Result<bool> DeploymentSync::ScaleReplicaSet(size_t i, int32_t replicas) {
  const Object& rs = rs_[i];
  const int32_t before = SpecReplicas(rs);
  const int32_t max_replicas = replicas_ + MaxSurge(strategy_);
  bool resize = before != replicas;
  bool annotate = IntAnnotation(rs, kDesiredReplicasAnnotation) != replicas_ ||
                  IntAnnotation(rs, kMaxReplicasAnnotation) != max_replicas;
  if (!resize && !annotate) return false;
  Object changed = rs;
  changed.json()["spec"]["replicas"] = replicas;
  changed.set_annotation(kDesiredReplicasAnnotation, std::to_string(replicas_));
  changed.set_annotation(kMaxReplicasAnnotation, std::to_string(max_replicas));
  if (auto s = UpdateReplicaSet(i, changed); !s) return s.error();
  if (resize) {
    mgr_.events().Normal(d_, "ScalingReplicaSet",
                         std::string("Scaled ") + (before < replicas ? "up" : "down") + " replica set " +
                             rs_[i].name() + " to " + std::to_string(replicas));
  }
  return resize;
}

// Paused, or spec.replicas changed: resize, write status, no rollout step.
Result<Reconciled> DeploymentSync::Sync() {
  if (auto s = GetNewReplicaSet(false); !s) return s.error();
  if (auto s = Scale(); !s) return s.error();
  if (Object::Field(d_.spec(), "paused") == true) {
    if (auto s = CleanupDeployment(); !s) return s.error();
  }
  if (auto s = SyncDeploymentStatus(); !s) return s.error();
  return Reconciled::Done();
}

Status DeploymentSync::Scale() {
  std::vector<size_t> active;
  for (size_t i : All()) {
    if (SpecReplicas(rs_[i]) > 0) active.push_back(i);
  }
  // One active ReplicaSet (or none: the newest) takes the whole size.
  if (!rs_.empty() && active.size() <= 1) {
    size_t target = active.empty() ? (new_ ? *new_ : Olds().back()) : active[0];
    if (SpecReplicas(rs_[target]) == replicas_) return Ok();
    auto r = ScaleReplicaSet(target, replicas_);
    return r ? Ok() : Status(r.error());
  }
  if (rs_.empty()) return Ok();
  // A saturated new ReplicaSet: the old ones go to zero.
  if (new_) {
    const Object& n = rs_[*new_];
    if (IntAnnotation(n, kDesiredReplicasAnnotation) == replicas_ && SpecReplicas(n) == replicas_ &&
        StatusInt(n, "availableReplicas") == replicas_) {
      for (size_t i : ActiveOlds()) {
        if (auto r = ScaleReplicaSet(i, 0); !r) return r.error();
      }
      return Ok();
    }
  }
  if (strategy_.recreate) return Ok();
  // In the middle of a rolling update: spread the change in proportion to
  // the sizes the ReplicaSets were given for the previous size
  // (max-replicas annotation), larger ones first.
  const int32_t allowed = replicas_ > 0 ? replicas_ + MaxSurge(strategy_) : 0;
  const int32_t to_add = allowed - SumSpec(active);
  std::sort(active.begin(), active.end(), [&](size_t a, size_t b) {
    int32_t sa = SpecReplicas(rs_[a]), sb = SpecReplicas(rs_[b]);
    if (sa != sb) return sa > sb;
    return to_add > 0 ? CreatedBefore(rs_[b], rs_[a]) : CreatedBefore(rs_[a], rs_[b]);
  });
  std::map<size_t, int32_t> size;
  int32_t added = 0;
  for (size_t i : active) {
    const int32_t spec = SpecReplicas(rs_[i]);
    int32_t proportion = 0;
    if (to_add != 0 && spec != 0 && to_add != added) {
      int32_t fraction;
      if (replicas_ == 0) {
        fraction = -spec;
      } else {
        int64_t annotated = IntAnnotation(rs_[i], kMaxReplicasAnnotation).value_or(Int(d_.status(), "replicas", 0));
        fraction = annotated <= 0 ? 0
                                  : static_cast<int32_t>(std::lround(static_cast<double>(spec) * allowed /
                                                                     static_cast<double>(annotated))) -
                                        spec;
      }
      const int32_t left = to_add - added;
      proportion = to_add > 0 ? std::min(fraction, left) : std::max(fraction, left);
    }
    size[i] = spec + proportion;
    added += proportion;
  }
  for (size_t k = 0; k < active.size(); ++k) {
    size_t i = active[k];
    if (k == 0 && to_add != 0) size[i] = std::max(0, size[i] + to_add - added);  // leftovers to the largest
    if (auto r = ScaleReplicaSet(i, size[i]); !r) return r.error();
  }
  return Ok();
}

Result<Reconciled> DeploymentSync::RolloutRolling() {
  if (auto s = GetNewReplicaSet(true); !s) return s.error();
  auto up = ReconcileNewReplicaSet();
  if (!up) return up.error();
  if (*up) return SyncRolloutStatus();
  auto down = ReconcileOldReplicaSets();
  if (!down) return down.error();
  if (*down) return SyncRolloutStatus();
  if (DeploymentComplete(d_.status())) {
    if (auto s = CleanupDeployment(); !s) return s.error();
  }
  return SyncRolloutStatus();
}

Result<bool> DeploymentSync::ReconcileNewReplicaSet() {
  if (!new_) return false;
  const int32_t spec = SpecReplicas(rs_[*new_]);
  if (spec == replicas_) return false;
  if (spec > replicas_) return ScaleReplicaSet(*new_, replicas_);
  return ScaleReplicaSet(*new_, NewRSNewReplicas(&rs_[*new_]));
}

Result<bool> DeploymentSync::ReconcileOldReplicaSets() {
  std::vector<size_t> olds = ActiveOlds();
  if (SumSpec(olds) == 0) return false;
  const int32_t all_pods = SumSpec(All());
  const int32_t min_available = replicas_ - MaxUnavailable(d_, strategy_);
  const int32_t new_unavailable = new_ ? SpecReplicas(rs_[*new_]) - Available(rs_[*new_]) : 0;
  // How far the old ones may shrink without the total dropping below what
  // must stay available, counting the new pods not yet available as lost.
  const int32_t max_scaled_down = all_pods - min_available - new_unavailable;
  if (max_scaled_down <= 0) return false;
  auto cleaned = CleanupUnhealthyReplicas(olds, max_scaled_down);
  if (!cleaned) return cleaned.error();
  auto scaled = ScaleDownOldReplicaSetsForRollingUpdate(ActiveOlds());
  if (!scaled) return scaled.error();
  return *cleaned + *scaled > 0;
}

// Unavailable old pods go first, so that they never hold a rollout up.
Result<int32_t> DeploymentSync::CleanupUnhealthyReplicas(std::vector<size_t> olds, int32_t max_cleanup) {
  int32_t total = 0;
  for (size_t i : olds) {  // oldest first: rs_ is sorted so
    if (total >= max_cleanup) break;
    const int32_t spec = SpecReplicas(rs_[i]);
    const int32_t available = Available(rs_[i]);
    if (spec == 0 || spec == available) continue;
    const int32_t down = std::min(max_cleanup - total, spec - available);
    if (auto r = ScaleReplicaSet(i, spec - down); !r) return r.error();
    total += down;
  }
  return total;
}

Result<int32_t> DeploymentSync::ScaleDownOldReplicaSetsForRollingUpdate(std::vector<size_t> olds) {
  const int32_t min_available = replicas_ - MaxUnavailable(d_, strategy_);
  int32_t available = 0;
  for (size_t i : All()) available += Available(rs_[i]);
  if (available <= min_available) return 0;
  const int32_t total_down = available - min_available;
  int32_t scaled = 0;
  for (size_t i : olds) {
    if (scaled >= total_down) break;
    const int32_t spec = SpecReplicas(rs_[i]);
    if (spec == 0) continue;
    const int32_t down = std::min(spec, total_down - scaled);
    if (auto r = ScaleReplicaSet(i, spec - down); !r) return r.error();
    scaled += down;
  }
  return scaled;
}

Result<Reconciled> DeploymentSync::RolloutRecreate() {
  // No new ReplicaSet yet: nothing may scale up before the old pods are gone.
  if (auto s = GetNewReplicaSet(false); !s) return s.error();
  bool scaled_down = false;
  for (size_t i : ActiveOlds()) {
    auto r = ScaleReplicaSet(i, 0);
    if (!r) return r.error();
    scaled_down = scaled_down || *r;
  }
  if (scaled_down || OldPodsRunning()) return SyncRolloutStatus();
  if (!new_) {
    if (auto s = GetNewReplicaSet(true); !s) return s.error();
  }
  if (new_ && SpecReplicas(rs_[*new_]) != replicas_) {
    if (auto r = ScaleReplicaSet(*new_, replicas_); !r) return r.error();
  }
  if (DeploymentComplete(d_.status())) {
    if (auto s = CleanupDeployment(); !s) return s.error();
  }
  return SyncRolloutStatus();
}

bool DeploymentSync::OldPodsRunning() const {
  for (size_t i : Olds()) {
    const Object& rs = rs_[i];
    // Its controller has not yet acted on being scaled down.
    if (StatusInt(rs, "replicas") > 0 || Int(rs.status(), "observedGeneration", 0) < rs.generation()) return true;
    for (const ObjectPtr& pod : inf_.pods.ListOwnedBy(rs.uid())) {
      std::string phase = PodPhase(*pod);
      if (phase != "Failed" && phase != "Succeeded") return true;
    }
  }
  return false;
}

// revisionHistoryLimit: the oldest revisions beyond it that are at 0 and
// have no pods are deleted.
Status DeploymentSync::CleanupDeployment() {
  const int64_t limit = Int(d_.spec(), "revisionHistoryLimit", 10);
  std::vector<size_t> olds;
  for (size_t i : Olds()) {
    if (!rs_[i].deletion_timestamp()) olds.push_back(i);
  }
  const int64_t diff = static_cast<int64_t>(olds.size()) - limit;
  if (diff <= 0) return Ok();
  std::sort(olds.begin(), olds.end(), [&](size_t a, size_t b) {
    int64_t ra = IntAnnotation(rs_[a], kRevisionAnnotation).value_or(0);
    int64_t rb = IntAnnotation(rs_[b], kRevisionAnnotation).value_or(0);
    if (ra != rb) return ra < rb;
    return CreatedBefore(rs_[a], rs_[b]);
  });
  std::vector<std::string> deleted;
  for (int64_t k = 0; k < diff; ++k) {
    const Object& rs = rs_[olds[static_cast<size_t>(k)]];
    if (StatusInt(rs, "replicas") != 0 || SpecReplicas(rs) != 0 ||
        rs.generation() > Int(rs.status(), "observedGeneration", 0)) {
      continue;
    }
    auto r = mgr_.client()->Delete(*KindRegistry::Builtin().FindKind("ReplicaSet"), rs.namespace_(), rs.name(),
                                   rs.resource_version());
    if (!r && r.error().code() != Code::kNotFound) return r.error().Wrap("cannot delete old " + rs.Describe());
    inf_.sets.Forget(rs.namespace_(), rs.name(), r ? r->resource_version() : "");
    log::Info("deployment-controller", "deleted an old replica set beyond revisionHistoryLimit",
              {{"object", d_.Key()}, {"replicaset", rs.name()}});
    deleted.push_back(rs.name());
  }
  if (deleted.empty()) return Ok();
  std::erase_if(rs_, [&](const Object& rs) {
    return std::find(deleted.begin(), deleted.end(), rs.name()) != deleted.end();
  });
  new_ = FindNewReplicaSet();
  return Ok();
}

}  // namespace bosun::reconciler::apps
