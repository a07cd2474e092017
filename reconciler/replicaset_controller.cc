#include "reconciler/replicaset_controller.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/log.h"
#include "reconciler/deployment_util.h"

namespace bosun::reconciler {
namespace {

using std::chrono::milliseconds;

constexpr const char* kComponent = "replicaset-controller";
// At most this many pods created in one reconcile (Kubernetes' burstReplicas).
constexpr int kBurstReplicas = 500;
// generateName's base is cut so that base + 5 characters is a valid name.
constexpr size_t kMaxGenerateNameBase = 58;

const KindInfo& PodKind() {
  return *KindRegistry::Builtin().FindKind("Pod");
}

const KindInfo& ReplicaSetKind() {
  return *KindRegistry::Builtin().FindKind("ReplicaSet");
}

// A pod with what its place in the deletion order depends on.
struct Ranked {
  ObjectPtr pod;
  int on_same_node = 0;  // pods of this ReplicaSet on the pod's node
};

int PhaseRank(const Object& pod) {
  std::string phase = apps::PodPhase(pod);
  if (phase == "Pending" || phase.empty()) return 0;
  if (phase == "Unknown") return 1;
  return 2;
}

int64_t DeletionCost(const Object& pod) {
  return apps::IntAnnotation(pod, apps::kPodDeletionCostAnnotation).value_or(0);
}

// True when `a` should be deleted before `b` (Kubernetes' ActivePodsWithRanks).
bool DeleteBefore(const Ranked& ra, const Ranked& rb) {
  const Object& a = *ra.pod;
  const Object& b = *rb.pod;
  bool a_bound = !apps::Str(a.spec(), "nodeName").empty();
  bool b_bound = !apps::Str(b.spec(), "nodeName").empty();
  if (a_bound != b_bound) return !a_bound;
  if (PhaseRank(a) != PhaseRank(b)) return PhaseRank(a) < PhaseRank(b);
  bool a_ready = apps::PodReady(a);
  bool b_ready = apps::PodReady(b);
  if (a_ready != b_ready) return !a_ready;
  if (DeletionCost(a) != DeletionCost(b)) return DeletionCost(a) < DeletionCost(b);
  if (ra.on_same_node != rb.on_same_node) return ra.on_same_node > rb.on_same_node;
  if (a_ready && b_ready) {
    auto sa = apps::PodReadySince(a);
    auto sb = apps::PodReadySince(b);
    if (sa != sb) {
      if (!sa) return true;  // no time known: as if just ready
      if (!sb) return false;
      return *sa > *sb;
    }
  }
  if (apps::PodRestarts(a) != apps::PodRestarts(b)) return apps::PodRestarts(a) > apps::PodRestarts(b);
  auto ca = ParseRfc3339(a.creation_timestamp());
  auto cb = ParseRfc3339(b.creation_timestamp());
  if (ca != cb) {
    if (!ca) return true;
    if (!cb) return false;
    return *ca > *cb;
  }
  return a.name() < b.name();
}

class ReplicaSetController {
 public:
  explicit ReplicaSetController(ControllerManager& mgr)
      : mgr_(mgr), pods_(mgr.Informer(PodKind())), sets_(mgr.Informer(ReplicaSetKind())) {}

  void set_controller(Controller* c) { controller_ = c; }
  SharedInformer& pods() { return pods_; }
  SharedInformer& sets() { return sets_; }

  void OnReplicaSet(const Object* old_rs, const Object* cur_rs) {
    const Object* o = cur_rs != nullptr ? cur_rs : old_rs;
    controller_->Enqueue(*o);
  }

  void OnPod(const Object* old_pod, const Object* cur_pod) {
    const Object* o = cur_pod != nullptr ? cur_pod : old_pod;
    auto ref = o->controller_ref();
    if (ref) EnqueueOwner(o->namespace_(), *ref);
    if (old_pod != nullptr && cur_pod != nullptr) {
      auto old_ref = old_pod->controller_ref();
      if (old_ref && (!ref || old_ref->uid != ref->uid)) EnqueueOwner(o->namespace_(), *old_ref);
    }
    if (!ref && cur_pod != nullptr && apps::PodActive(*cur_pod)) {
      // An orphan: every ReplicaSet that could adopt it.
      for (const ObjectPtr& rs : sets_.List(cur_pod->namespace_())) {
        auto sel = Selector::FromLabelSelector(Object::Field(rs->spec(), "selector"));
        if (sel && !sel->Empty() && sel->Matches(cur_pod->labels())) controller_->Enqueue(*rs);
      }
    }
  }

  Result<Reconciled> Reconcile(const std::string& key) {
    ObjectPtr rs = sets_.GetByKey(key);
    if (!rs) return Reconciled::Done();  // deleted: its pods are the garbage collector's
    state::Client& client = *mgr_.client();
    auto sel = Selector::FromLabelSelector(Object::Field(rs->spec(), "selector"));
    if (!sel || sel->Empty()) {
      mgr_.events().Warning(*rs, "InvalidSelector",
                            sel ? "spec.selector is empty: it would select every pod of the namespace"
                                : "spec.selector: " + sel.error().message());
      return Reconciled::Done();
    }
    // Candidates: what the selector matches (ours or orphans), and ours that
    // it no longer matches (to release).
    std::vector<ObjectPtr> candidates = pods_.List(rs->namespace_(), &*sel);
    for (ObjectPtr& p : pods_.ListOwnedBy(rs->uid())) {
      if (!sel->Matches(p->labels())) candidates.push_back(std::move(p));
    }
    auto claimed = apps::Claim(client, pods_, *rs, *sel, candidates, [&] { return StillExists(*rs); });
    if (!claimed) return claimed.error();

    std::vector<ObjectPtr> active;
    Status manage = Ok();
    for (const ObjectPtr& p : *claimed) {
      if (apps::PodActive(*p)) {
        active.push_back(p);
      } else if (apps::PodPhase(*p) == "Failed") {
        // Counted as gone; delete it so that it is replaced and not kept.
        if (auto s = DeletePod(*rs, *p, "Deleted failed pod: "); !s && manage) manage = s;
      }
    }
    const int64_t want = apps::SpecReplicas(*rs);
    const int64_t have = static_cast<int64_t>(active.size());
    if (have < want) {
      if (auto s = CreatePods(*rs, static_cast<int>(std::min<int64_t>(want - have, kBurstReplicas)), &active);
          !s && manage) {
        manage = s;
      }
    } else if (have > want) {
      if (auto s = DeleteSurplus(*rs, static_cast<int>(have - want), &active); !s && manage) manage = s;
    }
    auto requeue = WriteStatus(*rs, active, manage);
    if (!manage) return manage.error();
    if (!requeue) return requeue.error();
    return *requeue;
  }

 private:
  void EnqueueOwner(const std::string& ns, const OwnerReference& ref) {
    if (ref.kind != "ReplicaSet") return;
    ObjectPtr rs = sets_.Get(ns, ref.name);
    if (rs && rs->uid() == ref.uid) controller_->Enqueue(*rs);
  }

  // Adoption needs the ReplicaSet to exist still: read it from the API, not
  // the cache (Kubernetes' RecheckDeletionTimestamp).
  Status StillExists(const Object& rs) {
    auto fresh = mgr_.client()->Get(ReplicaSetKind(), rs.namespace_(), rs.name());
    if (!fresh) return fresh.error();
    if (fresh->uid() != rs.uid()) return Error(Code::kNotFound, rs.Describe() + " was deleted and created again");
    return Ok();
  }

  Object NewPod(const Object& rs) const {
    const Json& tmpl = Object::Field(rs.spec(), "template");
    const Json& meta = Object::Field(tmpl, "metadata");
    std::string base = rs.name() + "-";
    if (base.size() > kMaxGenerateNameBase) base.resize(kMaxGenerateNameBase);
    Object pod(GroupVersionKind{"", "v1", "Pod"}, rs.namespace_(), "");
    Json& m = pod.json()["metadata"];
    m["generateName"] = base;
    if (Object::Field(meta, "labels").is_object()) m["labels"] = meta["labels"];
    if (Object::Field(meta, "annotations").is_object()) m["annotations"] = meta["annotations"];
    if (Object::Field(meta, "finalizers").is_array()) m["finalizers"] = meta["finalizers"];
    pod.set_owner_references({apps::ControllerRefTo(rs)});
    pod.json()["spec"] = Object::Field(tmpl, "spec");
    return pod;
  }

  // Creates `n` pods in one transaction; each goes into the informer at once
  // (read-your-writes: the next reconcile counts it).
  Status CreatePods(const Object& rs, int n, std::vector<ObjectPtr>* active) {
    std::vector<state::BatchOp> ops(static_cast<size_t>(n));
    Object pod = NewPod(rs);
    for (auto& op : ops) {
      op.type = state::BatchOp::Type::kCreate;
      op.object = pod;
    }
    auto r = mgr_.client()->Batch(ops);
    if (!r) {
      mgr_.events().Warning(rs, "FailedCreate", "Error creating: " + r.error().message());
      return r.error().Wrap("cannot create pods for " + rs.Describe());
    }
    for (const Object& created : r->items) {
      pods_.Store(created);
      active->push_back(std::make_shared<const Object>(created));
      mgr_.events().Normal(rs, "SuccessfulCreate", "Created pod: " + created.name());
    }
    return Ok();
  }

  Status DeletePod(const Object& rs, const Object& pod, const std::string& what) {
    auto r = mgr_.client()->Delete(PodKind(), pod.namespace_(), pod.name());
    if (!r && r.error().code() != Code::kNotFound) {
      mgr_.events().Warning(rs, "FailedDelete", "Error deleting pod " + pod.name() + ": " + r.error().message());
      return r.error().Wrap("cannot delete " + pod.Describe());
    }
    pods_.Forget(pod.namespace_(), pod.name(), r ? r->resource_version() : "");
    if (r) mgr_.events().Normal(rs, "SuccessfulDelete", what + pod.name());
    return Ok();
  }

  Status DeleteSurplus(const Object& rs, int n, std::vector<ObjectPtr>* active) {
    std::map<std::string, int> per_node;
    for (const ObjectPtr& p : *active) {
      std::string node = apps::Str(p->spec(), "nodeName");
      if (!node.empty()) ++per_node[node];
    }
    std::vector<Ranked> ranked;
    for (const ObjectPtr& p : *active) {
      std::string node = apps::Str(p->spec(), "nodeName");
      ranked.push_back({p, node.empty() ? 0 : per_node[node]});
    }
    std::sort(ranked.begin(), ranked.end(), DeleteBefore);
    Status result = Ok();
    std::vector<ObjectPtr> kept;
    for (size_t i = 0; i < ranked.size(); ++i) {
      if (i < static_cast<size_t>(n)) {
        if (auto s = DeletePod(rs, *ranked[i].pod, "Deleted pod: "); !s) {
          if (result) result = s;
          kept.push_back(ranked[i].pod);
        }
      } else {
        kept.push_back(ranked[i].pod);
      }
    }
    *active = std::move(kept);
    return result;
  }

  // Writes status when it changed; returns when to look again (a pod that
  // is ready but not yet available for minReadySeconds).
  Result<Reconciled> WriteStatus(const Object& rs, const std::vector<ObjectPtr>& active, const Status& manage) {
    const WallTime now = mgr_.clock().Now();
    const int64_t min_ready = apps::Int(rs.spec(), "minReadySeconds", 0);
    StringMap template_labels;
    const Json& labels = Object::Field(Object::Field(Object::Field(rs.spec(), "template"), "metadata"), "labels");
    if (labels.is_object()) {
      for (auto it = labels.begin(); it != labels.end(); ++it) {
        if (it->is_string()) template_labels[it.key()] = it->get<std::string>();
      }
    }
    int64_t fully_labeled = 0, ready = 0, available = 0;
    std::optional<WallTime> next;
    for (const ObjectPtr& p : active) {
      StringMap pl = p->labels();
      bool all = std::all_of(template_labels.begin(), template_labels.end(), [&](const auto& kv) {
        auto it = pl.find(kv.first);
        return it != pl.end() && it->second == kv.second;
      });
      fully_labeled += all ? 1 : 0;
      if (!apps::PodReady(*p)) continue;
      ++ready;
      if (apps::PodAvailable(*p, min_ready, now)) {
        ++available;
      } else if (auto since = apps::PodReadySince(*p)) {
        WallTime at = *since + std::chrono::seconds(min_ready);
        if (!next || at < *next) next = at;
      }
    }
    Json status = rs.status().is_object() ? rs.status() : Json::object();
    status["replicas"] = static_cast<int64_t>(active.size());
    status["fullyLabeledReplicas"] = fully_labeled;
    status["readyReplicas"] = ready;
    status["availableReplicas"] = available;
    status["observedGeneration"] = rs.generation();
    const std::string stamp = FormatRfc3339(now);
    if (!manage) {
      apps::SetCondition(status, "ReplicaFailure", "True", "FailedCreate", manage.error().message(), stamp);
    } else {
      apps::RemoveCondition(status, "ReplicaFailure");
    }
    if (status.contains("conditions") && status["conditions"].empty()) status.erase("conditions");
    if (status != rs.status()) {
      Object copy = rs;
      copy.json()["status"] = status;
      auto w = mgr_.client()->UpdateStatus(copy);
      if (!w) {
        if (w.error().code() == Code::kNotFound) return Reconciled::Done();
        return w.error().Wrap("cannot write the status of " + rs.Describe());
      }
      sets_.Store(*w);
    }
    if (next) {
      auto wait = std::chrono::duration_cast<milliseconds>(*next - now) + milliseconds(10);
      return Reconciled::After(std::max(wait, milliseconds(10)));
    }
    return Reconciled::Done();
  }

  ControllerManager& mgr_;
  SharedInformer& pods_;
  SharedInformer& sets_;
  Controller* controller_ = nullptr;
};

}  // namespace

Status AddReplicaSetController(ControllerManager& mgr) {
  if (mgr.client() == nullptr) return Error(Code::kInvalid, "the ReplicaSet controller needs an API client");
  auto impl = std::make_shared<ReplicaSetController>(mgr);
  Controller& c = mgr.Add(std::make_unique<Controller>(
      kComponent, 2, [impl](const std::string& key) { return impl->Reconcile(key); }));
  impl->set_controller(&c);
  impl->sets().AddHandler([impl](const Object* o, const Object* n) { impl->OnReplicaSet(o, n); });
  impl->pods().AddHandler([impl](const Object* o, const Object* n) { impl->OnPod(o, n); });
  return Ok();
}

}  // namespace bosun::reconciler
