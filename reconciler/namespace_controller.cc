#include "reconciler/namespace_controller.h"

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/kinds.h"
#include "core/log.h"
#include "reconciler/garbage_collector.h"
#include "reconciler/system_namespace.h"

namespace bosun::reconciler {
namespace {

constexpr const char* kComponent = "namespace-controller";

// Every namespaced kind, workloads and Services before the config they use
// (the reverse of the apply order, as a prune deletes).
std::vector<const KindInfo*> NamespacedKinds() {
  std::vector<const KindInfo*> kinds;
  for (const KindInfo& k : KindRegistry::Builtin().all()) {
    if (k.namespaced) kinds.push_back(&k);
  }
  std::stable_sort(kinds.begin(), kinds.end(),
                   [](const KindInfo* a, const KindInfo* b) { return ApplyOrder(a->gvk) > ApplyOrder(b->gvk); });
  return kinds;
}

class NamespaceController {
 public:
  NamespaceController(ControllerManager& mgr, NamespaceControllerOptions options)
      : mgr_(mgr), options_(options), informer_(mgr.Informer("Namespace")), kinds_(NamespacedKinds()) {
    for (const char* k : kOwnershipKinds) mgr.Informer(k);  // synced before the start's work
  }

  static void Register(const std::shared_ptr<NamespaceController>& self) {
    self->controller_ = &self->mgr_.Add(std::make_unique<Controller>(
        "namespace", 1, [self](const std::string& key) { return self->Reconcile(key); }));
    self->informer_.AddHandler([self](const Object*, const Object* cur) {
      if (cur != nullptr && cur->deletion_timestamp()) self->controller_->Enqueue(cur->name());
    });
    // At the start: the Namespaces that should be there (kBootstrap).
    self->controller_->Enqueue(kBootstrap);
  }

 private:
  // Not a namespace name: the start's work.
  static constexpr const char* kBootstrap = "";

  // "default" always exists, and its Namespace object is made as
  // kube-apiserver makes it, so `bosun get namespaces` lists it. A store an
  // older bosun wrote may hold objects in namespaces it never made (it did
  // not check): their Namespaces are made, or the controllers that create
  // pods, ReplicaSets and Secrets next to those objects would be refused.
  Result<Reconciled> Bootstrap() {
    std::set<std::string> used = {"default"};
    for (const char* k : kOwnershipKinds) {
      for (const ObjectPtr& o : mgr_.Informer(k).List()) used.insert(o->namespace_());
    }
    for (const std::string& name : used) {
      if (informer_.Get("", name)) continue;
      if (Status s = EnsureNamespace(*mgr_.client(), name); !s) return s.error().Wrap("creating Namespace " + name);
      if (name != "default") {
        log::Warn(kComponent, "created the Namespace of objects stored without one (by an older bosun)",
                  {{"namespace", name}});
      }
    }
    return Reconciled::Done();
  }

  Result<Reconciled> Reconcile(const std::string& name) {
    if (name == kBootstrap) return Bootstrap();
    ObjectPtr ns = informer_.Get("", name);
    state::Client& client = *mgr_.client();
    if (!ns || !ns->deletion_timestamp()) return Reconciled::Done();
    size_t deleted = 0;
    std::string kinds;  // "3 pods, 1 deployments.apps", for the log
    for (const KindInfo* kind : kinds_) {
      auto list = client.List(*kind, name);
      if (!list) return list.error().Wrap("listing " + kind->QualifiedResource() + " in namespace " + name);
      for (const Object& o : list->items) {
        auto r = client.Delete(*kind, name, o.name());
        if (!r && r.error().code() != Code::kNotFound) {
          return r.error().Wrap("deleting " + o.Describe() + " of the terminating namespace " + name);
        }
      }
      if (!list->items.empty()) {
        deleted += list->items.size();
        kinds += (kinds.empty() ? "" : ", ") + std::to_string(list->items.size()) + " " + kind->QualifiedResource();
      }
    }
    if (deleted > 0) {
      log::Info(kComponent, "deleted the contents of a terminating namespace",
                {{"namespace", name}, {"objects", std::to_string(deleted)}, {"kinds", kinds}});
      return Reconciled::After(options_.recheck);  // done once a look finds nothing
    }
    // Ours is "kubernetes", as Kubernetes names it; another writer's stay.
    Object released = *ns;
    Json rest = Json::array();
    for (const Json& f : Object::Field(ns->spec(), "finalizers")) {
      if (f != "kubernetes") rest.push_back(f);
    }
    const bool others = !rest.empty();
    released.json()["spec"]["finalizers"] = std::move(rest);
    auto r = client.FinalizeNamespace(released);
    if (!r && r.error().code() != Code::kNotFound) return r.error().Wrap("finalizing namespace " + name);
    log::Info(kComponent, others ? "namespace emptied; other finalizers hold it" : "namespace deleted",
              {{"namespace", name}});
    return Reconciled::Done();
  }

  ControllerManager& mgr_;
  const NamespaceControllerOptions options_;
  SharedInformer& informer_;
  const std::vector<const KindInfo*> kinds_;
  Controller* controller_ = nullptr;
};

}  // namespace

Status AddNamespaceController(ControllerManager& mgr, NamespaceControllerOptions options) {
  NamespaceController::Register(std::make_shared<NamespaceController>(mgr, options));
  return Ok();
}

}  // namespace bosun::reconciler
