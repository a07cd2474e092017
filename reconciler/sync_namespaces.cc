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
  // The files' objects with the kinds their load found (a valid set has
  // no object twice).
  std::vector<std::pair<const KindInfo*, const Manifest*>> desired;
  desired.reserve(snapshot.objects);
  for (const auto& [path, file] : snapshot.files) {
    for (size_t i = 0; i < file->objects.size(); ++i) desired.push_back({file->kinds[i], &file->objects[i]});
  }
  // The cache holds the managed objects; the API answers for the rest.
  auto cached = [&](const std::string& key) {
    std::lock_guard<std::mutex> lock(state_mu);
    return informer->Get(key).has_value();
  };
  auto live = [&](const KindInfo& kind, const std::string& ns, const std::string& name) -> Result<bool> {
    if (cached(Informer::Key(kind, ns, name))) return true;
    auto got = client->Get(kind, ns, name);
    if (got) return true;
    if (got.error().code() == Code::kNotFound) return false;
    return got.error();
  };
  return FindMissingNamespaces(
      desired, [&](const std::string& ns) { return live(ns_kind, "", ns); },
      [&](const KindInfo& kind, const Manifest& m) { return live(kind, m.object.namespace_(), m.object.name()); });
}

bool SyncController::Impl::NamespacesExistNow(const Object& refused) {
  const Json& names = Object::Field(refused.status(), "missingNamespaces");
  if (refused.status().value("reason", "") != "MissingNamespace" || !names.is_array()) return false;
  const KindInfo& ns_kind = *KindRegistry::Builtin().FindKind("Namespace");
  for (const Json& name : names) {
    if (!name.is_string() || !client->Get(ns_kind, "", name.get<std::string>())) return false;
  }
  log::Info(kSyncComponent, "the namespaces a refused revision lacked exist now: applying it again",
            {{"rev", ShortSha(refused.spec().value("commit", ""))}, {"revision", refused.name()}});
  return true;
}

bool SyncController::Impl::RefusalLifted(const RecordInfo& refused) {
  auto rec = client->Get(*revision_kind, "", refused.name);
  return rec && (TrustChangedSince(*rec) || NamespacesExistNow(*rec));
}

}  // namespace bosun::reconciler
