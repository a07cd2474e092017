#include "reconciler/garbage_collector.h"

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/log.h"

namespace bosun::reconciler {
namespace {

constexpr const char* kComponent = "garbage-collector";

// The work-queue key of an object of any watched kind: "Pod|ns/name".
std::string GcKey(const KindInfo& kind, const Object& o) { return kind.gvk.kind + "|" + ObjectKey(o); }

const Json& RefsJson(const Object* o) {
  return Object::Field(Object::Field(o->json(), "metadata"), "ownerReferences");
}

class GarbageCollector {
 public:
  explicit GarbageCollector(ControllerManager& mgr) : mgr_(mgr) {
    for (const char* k : kOwnershipKinds) {
      const KindInfo* kind = KindRegistry::Builtin().FindKind(k);
      informers_[kind] = &mgr.Informer(*kind);
    }
  }

  // The manager's controller and informer handlers share ownership of `self`.
  static void Register(const std::shared_ptr<GarbageCollector>& self, int workers) {
    self->controller_ = &self->mgr_.Add(std::make_unique<Controller>(
        "garbage-collector", workers, [self](const std::string& key) { return self->Reconcile(key); }));
    for (auto& [kind, informer] : self->informers_) {
      const KindInfo* k = kind;
      informer->AddHandler([self, k](const Object* old, const Object* cur) { self->OnChange(*k, old, cur); });
    }
  }

 private:
  void OnChange(const KindInfo& kind, const Object* old, const Object* cur) {
    const std::string key = GcKey(kind, cur != nullptr ? *cur : *old);
    std::vector<std::string> orphans;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (old != nullptr) {
        for (const auto& ref : old->owner_references()) {
          auto it = dependents_.find(ref.uid);
          if (it == dependents_.end()) continue;
          it->second.erase(key);
          if (it->second.empty()) dependents_.erase(it);
        }
      }
      if (cur != nullptr) {
        for (const auto& ref : cur->owner_references()) dependents_[ref.uid].insert(key);
      }
      // An owner left (or was replaced by another object of the same name):
      // its dependents are checked.
      if (old != nullptr && (cur == nullptr || cur->uid() != old->uid())) {
        auto it = dependents_.find(old->uid());
        if (it != dependents_.end()) orphans.assign(it->second.begin(), it->second.end());
      }
    }
    for (const auto& d : orphans) controller_->Enqueue(d);
    if (cur == nullptr || RefsJson(cur).is_null()) return;
    // New references, or a resync (old == cur): check this object's owners.
    if (old == nullptr || old == cur || RefsJson(old) != RefsJson(cur)) controller_->Enqueue(key);
  }

  // Whether the owner `ref` of an object in `ns` exists: the cache answers
  // "alive"; only the API answers "gone".
  Result<bool> OwnerAlive(const OwnerReference& ref, const std::string& ns) {
    const KindInfo* kind = KindRegistry::Builtin().Find(GroupVersionKind::From(ref.api_version, ref.kind));
    if (kind == nullptr) kind = KindRegistry::Builtin().FindKind(ref.kind);
    if (kind == nullptr) return true;  // not ours to judge
    const std::string owner_ns = kind->namespaced ? ns : "";
    if (auto it = informers_.find(kind); it != informers_.end()) {
      ObjectPtr cached = it->second->Get(owner_ns, ref.name);
      if (cached && cached->uid() == ref.uid) return true;
    }
    auto live = mgr_.client()->Get(*kind, owner_ns, ref.name);
    if (live) return live->uid() == ref.uid;
    if (live.error().code() == Code::kNotFound) return false;
    return live.error().Wrap("looking up owner " + ref.kind + " " + ObjectKey(owner_ns, ref.name));
  }

  Result<Reconciled> Reconcile(const std::string& key) {
    auto bar = key.find('|');
    if (bar == std::string::npos) return Reconciled::Done();
    const KindInfo* kind = KindRegistry::Builtin().FindKind(key.substr(0, bar));
    if (kind == nullptr || informers_.count(kind) == 0) return Reconciled::Done();
    auto [ns, name] = SplitKey(key.substr(bar + 1));
    SharedInformer& informer = *informers_.at(kind);
    ObjectPtr obj = informer.Get(ns, name);
    if (!obj) return Reconciled::Done();
    const auto refs = obj->owner_references();
    if (refs.empty()) return Reconciled::Done();

    std::vector<OwnerReference> alive;
    std::string gone;  // "ReplicaSet web-5d4f (uid …)", for the messages
    for (const auto& ref : refs) {
      auto ok = OwnerAlive(ref, obj->namespace_());
      if (!ok) return ok.error().Wrap("checking the owners of " + obj->Describe());
      if (*ok) {
        alive.push_back(ref);
      } else {
        gone += (gone.empty() ? "" : ", ") + ref.kind + " " + ref.name + " (uid " + ref.uid + ")";
      }
    }
    if (gone.empty()) return Reconciled::Done();

    if (alive.empty()) {
      auto r = mgr_.client()->Delete(*kind, obj->namespace_(), obj->name(), obj->resource_version());
      if (!r && r.error().code() != Code::kNotFound) return r.error().Wrap("garbage-collecting " + obj->Describe());
      informer.Forget(obj->namespace_(), obj->name(), r ? r->resource_version() : "");
      mgr_.events().Normal(*obj, "GarbageCollected",
                           "Deleted " + obj->Describe() + ": its owner " + gone + " no longer exists");
      log::Info(kComponent, "deleted an object whose owners are gone", {{"object", obj->Describe()}, {"owners", gone}});
      return Reconciled::Done();
    }
    Object updated = *obj;
    updated.set_owner_references(alive);
    auto r = mgr_.client()->Update(updated);
    if (!r) {
      if (r.error().code() == Code::kNotFound) return Reconciled::Done();
      return r.error().Wrap("removing gone owners from " + obj->Describe());
    }
    informer.Store(*r);
    mgr_.events().Normal(*obj, "OwnerRemoved",
                         "Removed the reference to " + gone + ", which no longer exists; other owners remain");
    log::Info(kComponent, "removed references to gone owners", {{"object", obj->Describe()}, {"owners", gone}});
    return Reconciled::Done();
  }

  ControllerManager& mgr_;
  std::map<const KindInfo*, SharedInformer*> informers_;  // fixed after construction
  Controller* controller_ = nullptr;
  std::mutex mu_;
  std::map<std::string, std::set<std::string>> dependents_;  // owner uid -> GcKeys; guarded by mu_
};

}  // namespace

Status AddGarbageCollector(ControllerManager& mgr, int workers) {
  GarbageCollector::Register(std::make_shared<GarbageCollector>(mgr), workers);
  return Ok();
}

}  // namespace bosun::reconciler
