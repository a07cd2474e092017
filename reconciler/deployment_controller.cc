// The Deployment controller: its handlers, and the steps of one reconcile
// that are not a strategy — claiming ReplicaSets, finding or creating the new
// one, pause conditions and status (Kubernetes' sync.go and progress.go).
// The strategies and scaling are in deployment_rollout.cc.
#include "reconciler/deployment_controller.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/log.h"
#include "reconciler/deployment_internal.h"

namespace bosun::reconciler {
namespace apps {
namespace {

const KindInfo& DeploymentKind() {
  return *KindRegistry::Builtin().FindKind("Deployment");
}

const KindInfo& ReplicaSetKind() {
  return *KindRegistry::Builtin().FindKind("ReplicaSet");
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

std::string Quoted(const std::string& s) {
  return "\"" + s + "\"";
}

}  // namespace

DeploymentSync::DeploymentSync(ControllerManager& mgr, DeploymentInformers inf, const Object& deployment)
    : mgr_(mgr), inf_(inf), d_(deployment), written_status_(deployment.status()) {
  replicas_ = SpecReplicas(d_);
}

std::string DeploymentSync::Now() const {
  return FormatRfc3339(mgr_.clock().Now());
}

Json& DeploymentSync::MutableStatus() {
  Json& st = d_.json()["status"];
  if (!st.is_object()) st = Json::object();
  return st;
}

bool DeploymentSync::HasProgressDeadline() const {
  return Int(d_.spec(), "progressDeadlineSeconds", 600) != INT32_MAX;
}

Result<Reconciled> DeploymentSync::Run() {
  auto selector = Selector::FromLabelSelector(Object::Field(d_.spec(), "selector"));
  if (!selector || selector->Empty()) {
    mgr_.events().Warning(d_, "SelectingAll",
                          selector ? "This deployment is selecting all pods. A non-empty selector is required."
                                   : "spec.selector: " + selector.error().message());
    if (Int(d_.status(), "observedGeneration", 0) < d_.generation()) {
      MutableStatus()["observedGeneration"] = d_.generation();
      if (auto s = WriteStatus(); !s) return s.error();
    }
    return Reconciled::Done();
  }
  auto strategy = ResolveStrategy(d_);
  if (!strategy) {
    mgr_.events().Warning(d_, "InvalidStrategy", strategy.error().message());
    return Reconciled::Done();
  }
  strategy_ = *strategy;
  if (auto s = ClaimReplicaSets(*selector); !s) return s.error();
  if (auto s = CheckPausedConditions(); !s) return s.error();
  if (Object::Field(d_.spec(), "paused") == true) return Sync();
  if (auto s = GetNewReplicaSet(false); !s) return s.error();
  if (IsScalingEvent()) return Sync();
  return strategy_.recreate ? RolloutRecreate() : RolloutRolling();
}

Status DeploymentSync::StillExists() {
  auto fresh = mgr_.client()->Get(DeploymentKind(), d_.namespace_(), d_.name());
  if (!fresh) return fresh.error();
  if (fresh->uid() != d_.uid()) return Error(Code::kNotFound, d_.Describe() + " was deleted and created again");
  return Ok();
}

Status DeploymentSync::ClaimReplicaSets(const Selector& selector) {
  std::vector<ObjectPtr> candidates = inf_.sets.List(d_.namespace_(), &selector);
  for (ObjectPtr& rs : inf_.sets.ListOwnedBy(d_.uid())) {
    if (!selector.Matches(rs->labels())) candidates.push_back(std::move(rs));
  }
  auto claimed = Claim(*mgr_.client(), inf_.sets, d_, selector, candidates, [this] { return StillExists(); });
  if (!claimed) return claimed.error();
  rs_.clear();
  for (const ObjectPtr& p : *claimed) rs_.push_back(*p);
  std::sort(rs_.begin(), rs_.end(), CreatedBefore);
  return Ok();
}

std::optional<size_t> DeploymentSync::FindNewReplicaSet() const {
  const Json& tmpl = Object::Field(d_.spec(), "template");
  // Oldest first: should two ever match, the choice is stable.
  for (size_t i = 0; i < rs_.size(); ++i) {
    if (EqualIgnoreHash(Object::Field(rs_[i].spec(), "template"), tmpl)) return i;
  }
  return std::nullopt;
}

Status DeploymentSync::UpdateReplicaSet(size_t i, const Object& changed) {
  auto w = mgr_.client()->Update(changed);
  if (!w) return w.error().Wrap("cannot update " + changed.Describe());
  inf_.sets.Store(*w);
  rs_[i] = std::move(*w);
  return Ok();
}

Status DeploymentSync::GetNewReplicaSet(bool create) {
  new_ = FindNewReplicaSet();
  int64_t max_old_revision = 0;
  for (size_t i : Olds()) max_old_revision = std::max(max_old_revision, IntAnnotation(rs_[i], kRevisionAnnotation).value_or(0));
  const int64_t new_revision = max_old_revision + 1;
  const int64_t min_ready = Int(d_.spec(), "minReadySeconds", 0);

  if (new_) {
    Object rs = rs_[*new_];
    bool changed = false;
    if (IntAnnotation(rs, kRevisionAnnotation).value_or(0) < new_revision) {
      rs.set_annotation(kRevisionAnnotation, std::to_string(new_revision));
      changed = true;
    }
    if (Int(rs.spec(), "minReadySeconds", 0) != min_ready) {
      rs.json()["spec"]["minReadySeconds"] = min_ready;
      changed = true;
    }
    if (changed) return UpdateReplicaSet(*new_, rs);
    if (HasProgressDeadline() && FindCondition(d_.status(), kProgressing) == nullptr) {
      SetCondition(MutableStatus(), kProgressing, "True", kFoundNewRSReason,
                   "Found new replica set " + Quoted(rs.name()), Now());
      return WriteStatus();
    }
    return Ok();
  }
  if (!create) return Ok();

  // The new ReplicaSet: the template with the hash label, the selector too.
  Json tmpl = Object::Field(d_.spec(), "template");
  std::optional<int64_t> collisions;
  if (Object::Field(d_.status(), "collisionCount").is_number_integer()) collisions = Int(d_.status(), "collisionCount", 0);
  const std::string hash = PodTemplateHash(tmpl, collisions);
  tmpl["metadata"]["labels"][kPodTemplateHashLabel] = hash;
  Json selector = Object::Field(d_.spec(), "selector");
  selector["matchLabels"][kPodTemplateHashLabel] = hash;
  Object rs(ReplicaSetKind().gvk, d_.namespace_(), d_.name() + "-" + hash);
  for (auto it = tmpl["metadata"]["labels"].begin(); it != tmpl["metadata"]["labels"].end(); ++it) {
    if (it->is_string()) rs.set_label(it.key(), it->get<std::string>());
  }
  rs.set_owner_references({ControllerRefTo(d_)});
  rs.json()["spec"] = {{"replicas", 0}, {"minReadySeconds", min_ready}, {"selector", selector}, {"template", tmpl}};
  const int32_t replicas = NewRSNewReplicas(&rs);
  rs.json()["spec"]["replicas"] = replicas;
  rs.set_annotation(kRevisionAnnotation, std::to_string(new_revision));
  rs.set_annotation(kDesiredReplicasAnnotation, std::to_string(replicas_));
  rs.set_annotation(kMaxReplicasAnnotation, std::to_string(replicas_ + MaxSurge(strategy_)));

  bool already_exists = false;
  auto created = mgr_.client()->Create(rs);
  if (!created && created.error().code() == Code::kAlreadyExists) {
    auto existing = mgr_.client()->Get(ReplicaSetKind(), rs.namespace_(), rs.name());
    if (existing && IsControlledBy(*existing, d_) &&
        EqualIgnoreHash(Object::Field(existing->spec(), "template"), Object::Field(d_.spec(), "template"))) {
      created = std::move(*existing);
      already_exists = true;
    } else {
      // A different template has this hash: count the collision, which
      // changes the hash, and come back.
      MutableStatus()["collisionCount"] = collisions.value_or(0) + 1;
      if (auto s = WriteStatus(); !s) return s;
      return Error(Code::kConflict, "replica set " + Quoted(rs.name()) + " exists with another pod template (hash collision)");
    }
  }
  if (!created) {
    std::string msg = "Failed to create new replica set " + Quoted(rs.name()) + ": " + created.error().message();
    if (HasProgressDeadline()) {
      SetCondition(MutableStatus(), kProgressing, "False", kFailedRSCreateReason, msg, Now());
      (void)WriteStatus();
    }
    mgr_.events().Warning(d_, kFailedRSCreateReason, msg);
    return created.error().Wrap("cannot create the new ReplicaSet of " + d_.Describe());
  }
  inf_.sets.Store(*created);
  rs_.push_back(std::move(*created));
  new_ = rs_.size() - 1;
  const Object& made = rs_[*new_];
  if (!already_exists && replicas > 0) {
    mgr_.events().Normal(d_, "ScalingReplicaSet",
                         "Scaled up replica set " + made.name() + " to " + std::to_string(replicas));
  }
  if (!already_exists && HasProgressDeadline()) {
    SetCondition(MutableStatus(), kProgressing, "True", kNewRSCreatedReason,
                 "Created new replica set " + Quoted(made.name()), Now());
    return WriteStatus();
  }
  return Ok();
}

Status DeploymentSync::CheckPausedConditions() {
  if (!HasProgressDeadline()) return Ok();
  const Json* cond = FindCondition(d_.status(), kProgressing);
  if (cond != nullptr && Str(*cond, "reason") == kTimedOutReason) return Ok();  // keep the failure visible
  bool paused = Object::Field(d_.spec(), "paused") == true;
  bool paused_cond = cond != nullptr && Str(*cond, "reason") == kPausedReason;
  if (paused && !paused_cond) {
    SetCondition(MutableStatus(), kProgressing, "Unknown", kPausedReason, "Deployment is paused", Now());
  } else if (!paused && paused_cond) {
    SetCondition(MutableStatus(), kProgressing, "Unknown", kResumedReason, "Deployment is resumed", Now());
  } else {
    return Ok();
  }
  return WriteStatus();
}

bool DeploymentSync::IsScalingEvent() const {
  for (size_t i : All()) {
    if (SpecReplicas(rs_[i]) == 0) continue;
    auto desired = IntAnnotation(rs_[i], kDesiredReplicasAnnotation);
    if (desired && *desired != replicas_) return true;
  }
  return false;
}

Json DeploymentSync::CalculateStatus() const {
  const std::vector<size_t> all = All();
  Json st = d_.status().is_object() ? d_.status() : Json::object();
  const int32_t available = SumStatus(all, "availableReplicas");
  st["observedGeneration"] = d_.generation();
  st["replicas"] = SumStatus(all, "replicas");
  st["updatedReplicas"] = new_ ? static_cast<int32_t>(Int(rs_[*new_].status(), "replicas", 0)) : 0;
  st["readyReplicas"] = SumStatus(all, "readyReplicas");
  st["availableReplicas"] = available;
  st["unavailableReplicas"] = std::max(0, SumSpec(all) - available);
  if (available >= replicas_ - MaxUnavailable(d_, strategy_)) {
    SetCondition(st, kAvailable, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", Now());
  } else {
    SetCondition(st, kAvailable, "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.",
                 Now());
  }
  return st;
}

bool DeploymentSync::DeploymentComplete(const Json& st) const {
  return Int(st, "updatedReplicas", 0) == replicas_ && Int(st, "replicas", 0) == replicas_ &&
         Int(st, "availableReplicas", 0) == replicas_ && Int(st, "observedGeneration", 0) >= d_.generation();
}

Status DeploymentSync::SyncDeploymentStatus() {
  MutableStatus() = CalculateStatus();
  return WriteStatus();
}

Result<Reconciled> DeploymentSync::SyncRolloutStatus() {
  Json st = CalculateStatus();
  if (!HasProgressDeadline()) RemoveCondition(st, kProgressing);
  const Json& old = d_.status();
  const Json* cur = FindCondition(old, kProgressing);
  const std::string cur_status = cur != nullptr ? Str(*cur, "status") : "";
  const std::string cur_reason = cur != nullptr ? Str(*cur, "reason") : "";
  const std::string cur_transition = cur != nullptr ? Str(*cur, "lastTransitionTime") : "";
  const bool was_complete = Int(st, "replicas", 0) == Int(st, "updatedReplicas", 0) && cur_reason == kNewRSAvailableReason;
  const std::string rs_name = new_ ? rs_[*new_].name() : "";
  const std::string subject = new_ ? "ReplicaSet " + Quoted(rs_name) : "Deployment " + Quoted(d_.name());
  const WallTime now = mgr_.clock().Now();
  const std::string stamp = FormatRfc3339(now);
  const int64_t deadline = Int(d_.spec(), "progressDeadlineSeconds", 600);
  bool timed_out_now = false;
  if (HasProgressDeadline() && !was_complete) {
    auto old_replicas = Int(old, "replicas", 0) - Int(old, "updatedReplicas", 0);
    auto new_old_replicas = Int(st, "replicas", 0) - Int(st, "updatedReplicas", 0);
    bool progressing = Int(st, "updatedReplicas", 0) > Int(old, "updatedReplicas", 0) ||
                       new_old_replicas < old_replicas ||
                       Int(st, "readyReplicas", 0) > Int(old, "readyReplicas", 0) ||
                       Int(st, "availableReplicas", 0) > Int(old, "availableReplicas", 0);
    const Json* cond = FindCondition(st, kProgressing);
    bool timed_out = false;
    if (cond != nullptr && Str(*cond, "reason") != kNewRSAvailableReason) {
      if (Str(*cond, "reason") == kTimedOutReason) {
        timed_out = true;
      } else if (auto from = ParseRfc3339(Str(*cond, "lastUpdateTime"))) {
        timed_out = *from + std::chrono::seconds(deadline) < now;
      }
    }
    if (DeploymentComplete(st)) {
      SetCondition(st, kProgressing, "True", kNewRSAvailableReason, subject + " has successfully progressed.", stamp);
    } else if (progressing) {
      // Progress refreshes lastUpdateTime (the deadline's start) even when
      // the reason stays.
      RemoveCondition(st, kProgressing);
      SetCondition(st, kProgressing, "True", kRSUpdatedReason, subject + " is progressing.", stamp);
      if (cur_status == "True") {
        for (auto& c : st["conditions"]) {
          if (Str(c, "type") == kProgressing) c["lastTransitionTime"] = cur_transition;
        }
      }
    } else if (timed_out) {
      timed_out_now = SetCondition(st, kProgressing, "False", kTimedOutReason, subject + " has timed out progressing.", stamp);
    }
  }
  // The new ReplicaSet's failure first, else an old one's.
  std::optional<Json> failure;
  std::vector<size_t> order = All();
  std::reverse(order.begin(), order.end());  // the new one is last in All()
  for (size_t i : order) {
    if (const Json* c = FindCondition(rs_[i].status(), kReplicaFailure); c != nullptr && !failure) failure = *c;
  }
  if (failure) {
    SetCondition(st, kReplicaFailure, Str(*failure, "status"), Str(*failure, "reason"), Str(*failure, "message"), stamp);
  } else {
    RemoveCondition(st, kReplicaFailure);
  }
  MutableStatus() = st;
  if (timed_out_now) mgr_.events().Warning(d_, kTimedOutReason, subject + " has timed out progressing.");
  if (auto s = WriteStatus(); !s) return s.error();

  // Come back when the deadline would pass without progress.
  const Json* cond = FindCondition(d_.status(), kProgressing);
  if (!HasProgressDeadline() || cond == nullptr || DeploymentComplete(d_.status()) ||
      Str(*cond, "reason") == kTimedOutReason || Str(*cond, "reason") == kNewRSAvailableReason) {
    return Reconciled::Done();
  }
  auto from = ParseRfc3339(Str(*cond, "lastUpdateTime"));
  if (!from) return Reconciled::Done();
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(*from + std::chrono::seconds(deadline) - now) +
               std::chrono::milliseconds(50);
  return Reconciled::After(std::max(after, std::chrono::milliseconds(100)));
}

Status DeploymentSync::WriteStatus() {
  if (d_.status() == written_status_) return Ok();
  auto w = mgr_.client()->UpdateStatus(d_);
  if (!w) {
    if (w.error().code() == Code::kNotFound) return Ok();
    return w.error().Wrap("cannot write the status of " + d_.Describe());
  }
  inf_.deployments.Store(*w);
  d_ = std::move(*w);
  written_status_ = d_.status();
  return Ok();
}

namespace {

class DeploymentController {
 public:
  explicit DeploymentController(ControllerManager& mgr)
      : mgr_(mgr),
        inf_{mgr.Informer(DeploymentKind()), mgr.Informer(ReplicaSetKind()), mgr.Informer("Pod")} {}

  void set_controller(Controller* c) { controller_ = c; }
  const DeploymentInformers& informers() const { return inf_; }

  Result<Reconciled> Reconcile(const std::string& key) {
    ObjectPtr d = inf_.deployments.GetByKey(key);
    if (!d) return Reconciled::Done();  // deleted: its ReplicaSets are the garbage collector's
    DeploymentSync sync(mgr_, inf_, *d);
    return sync.Run();
  }

  void OnDeployment(const Object* old_d, const Object* cur_d) {
    controller_->Enqueue(cur_d != nullptr ? *cur_d : *old_d);
  }

  void OnReplicaSet(const Object* old_rs, const Object* cur_rs) {
    const Object* o = cur_rs != nullptr ? cur_rs : old_rs;
    auto ref = o->controller_ref();
    if (ref) EnqueueOwner(o->namespace_(), *ref);
    if (old_rs != nullptr && cur_rs != nullptr) {
      auto old_ref = old_rs->controller_ref();
      if (old_ref && (!ref || old_ref->uid != ref->uid)) EnqueueOwner(o->namespace_(), *old_ref);
    }
    if (!ref && cur_rs != nullptr) {
      for (const ObjectPtr& d : inf_.deployments.List(cur_rs->namespace_())) {
        auto sel = Selector::FromLabelSelector(Object::Field(d->spec(), "selector"));
        if (sel && !sel->Empty() && sel->Matches(cur_rs->labels())) controller_->Enqueue(*d);
      }
    }
  }

  // A Recreate rollout waits for the old pods to be gone.
  void OnPod(const Object* old_pod, const Object* cur_pod) {
    if (cur_pod != nullptr || old_pod == nullptr) return;
    auto ref = old_pod->controller_ref();
    if (!ref || ref->kind != "ReplicaSet") return;
    ObjectPtr rs = inf_.sets.Get(old_pod->namespace_(), ref->name);
    if (!rs || rs->uid() != ref->uid) return;
    if (auto owner = rs->controller_ref()) EnqueueOwner(rs->namespace_(), *owner);
  }

 private:
  void EnqueueOwner(const std::string& ns, const OwnerReference& ref) {
    if (ref.kind != "Deployment") return;
    ObjectPtr d = inf_.deployments.Get(ns, ref.name);
    if (d && d->uid() == ref.uid) controller_->Enqueue(*d);
  }

  ControllerManager& mgr_;
  DeploymentInformers inf_;
  Controller* controller_ = nullptr;
};

}  // namespace
}  // namespace apps

Status AddDeploymentController(ControllerManager& mgr) {
  if (mgr.client() == nullptr) return Error(Code::kInvalid, "the Deployment controller needs an API client");
  auto impl = std::make_shared<apps::DeploymentController>(mgr);
  Controller& c = mgr.Add(std::make_unique<Controller>(
      "deployment-controller", 2, [impl](const std::string& key) { return impl->Reconcile(key); }));
  impl->set_controller(&c);
  const apps::DeploymentInformers& inf = impl->informers();
  inf.deployments.AddHandler([impl](const Object* o, const Object* n) { impl->OnDeployment(o, n); });
  inf.sets.AddHandler([impl](const Object* o, const Object* n) { impl->OnReplicaSet(o, n); });
  inf.pods.AddHandler([impl](const Object* o, const Object* n) { impl->OnPod(o, n); });
  return Ok();
}

}  // namespace bosun::reconciler
