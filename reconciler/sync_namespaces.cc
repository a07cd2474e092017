// A revision whose objects go into a namespace that neither the revision nor
// the cluster has is refused before anything of it is applied
// (FindMissingNamespaces, reconciler/plan.h), as Flux's and Argo CD's syncs
// fail on a missing namespace; once every such namespace exists the same
// commit is tried again.
#include "core/log.h"
#include "reconciler/sync_internal.h"

namespace bosun::reconciler {

Result<MissingNamespaces> SyncController::Impl::MissingNamespacesOf(const DesiredSnapshot& snapshot) {
  const KindInfo& ns_kind = *KindRegistry::Builtin().FindKind("Namespace");
  // The cache holds the managed objects; the API answers for the rest.
  auto live = [&](const KindInfo& kind, const std::string& ns,
                  const std::string& name) -> Result<std::optional<Object>> {
    {
      std::lock_guard<std::mutex> lock(state_mu);
      if (auto cached = informer->Get(Informer::Key(kind, ns, name))) return cached;
    }
    auto got = client->Get(kind, ns, name);
    if (got) return std::optional<Object>(std::move(*got));
    if (got.error().code() == Code::kNotFound) return std::optional<Object>();
    return got.error();
  };
  return FindMissingNamespaces(
      snapshot.kinds_and_objects,
      [&](const std::string& ns) -> Result<NamespaceState> {
        {
          std::lock_guard<std::mutex> lock(state_mu);
          if (auto cached = informer->Get(Informer::Key(ns_kind, "", ns))) return NamespaceStateOf(cached);
        }
        return GetNamespaceState(*client, ns);
      },
      [&](const KindInfo& kind, const Manifest& m) -> Result<bool> {
        auto got = live(kind, m.object.namespace_(), m.object.name());
        if (!got) return got.error();
        return got->has_value();
      },
      &snapshot.namespaces);
}

bool SyncController::Impl::NamespacesExistNow(const Object& refused) {
  const Json& missing = Object::Field(refused.status(), "missingNamespaces");
  const Json& terminating = Object::Field(refused.status(), "terminatingNamespaces");
  if (refused.status().value("reason", "") != "MissingNamespace") return false;
  // An error reads as missing, as a Namespace that cannot be read now.
  auto state = [&](const Json& name) {
    if (!name.is_string()) return NamespaceState::kMissing;
    auto got = GetNamespaceState(*client, name.get<std::string>());
    return got ? *got : NamespaceState::kMissing;
  };
  // Each missing one exists now; each terminating one is gone (or back).
  for (const Json& name : missing.is_array() ? missing : Json::array()) {
    if (state(name) != NamespaceState::kActive) return false;
  }
  for (const Json& name : terminating.is_array() ? terminating : Json::array()) {
    if (state(name) == NamespaceState::kTerminating) return false;
  }
  log::Info(kSyncComponent, "the namespaces a refused revision lacked are there now: applying it again",
            {{"rev", ShortSha(refused.spec().value("commit", ""))}, {"revision", refused.name()}});
  return true;
}

bool SyncController::Impl::RefusalLifted(const RecordInfo& refused) {
  auto rec = client->Get(*revision_kind, "", refused.name);
  return rec && (TrustChangedSince(*rec) || NamespacesExistNow(*rec));
}

}  // namespace bosun::reconciler
