// reconciler/plan.h — what applying a desired set would change: the sync
// controller applies a plan, `bosun diff` prints one, drift detection is a
// plan of one object. Pure functions (no I/O); docs/GITOPS.md "Desired vs
// live" defines when an object is unchanged.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/field_steps.h"
#include "core/manifests.h"
#include "core/object.h"
#include "core/result.h"
#include "state/client.h"

namespace bosun::reconciler {

inline constexpr const char* kManagedByLabel = "bosun.dev/managed-by";
inline constexpr const char* kManagedByValue = "bosun";
inline constexpr const char* kSourcePathAnnotation = "bosun.dev/source-path";
inline constexpr const char* kRevisionAnnotation = "bosun.dev/revision";
// The label and annotation keys the repository set on the object at the last
// apply, as JSON {"labels":[…],"annotations":[…]}: a key that leaves the
// manifest is removed from the live object, while keys other writers added
// (controllers, people) are kept and never count as drift.
inline constexpr const char* kAppliedKeysAnnotation = "bosun.dev/applied-keys";
// On a manifest: "true" lets the sync delete and create the object again
// when the repository changes a field its kind makes immutable (a Job's
// template, a Deployment's selector), as Flux's force does; "false" keeps it
// from that even when the SyncConfig says spec.force: true.
inline constexpr const char* kForceAnnotation = "bosun.dev/force";
// On a manifest: "false" keeps the object in the cluster when it leaves the
// repository, even with prune on (Flux's kustomize.toolkit.fluxcd.io/prune:
// disabled, Argo CD's Prune=false). The last apply wrote it on the live
// object, and that is what the prune reads; the record lists the object as
// kept. Take the annotation off (in the repository, before removing the
// file) to have it pruned.
inline constexpr const char* kPruneAnnotation = "bosun.dev/prune";
// On a manifest: field paths, separated by commas, that the cluster owns once
// the object exists (Argo CD's ignoreDifferences with
// RespectIgnoreDifferences): a create writes the repository's value, and from
// then on the live value stays — it is neither drift nor changed by an update.
// `spec.replicas` for a Deployment someone scales by hand; `[*]` for every
// item of a list: `spec.template.spec.containers[*].resources`. The
// SyncConfig's spec.ignoreDifferences does the same for many objects.
inline constexpr const char* kIgnoreFieldsAnnotation = "bosun.dev/ignore-fields";

// One entry of a SyncConfig's spec.ignoreDifferences: the objects it matches
// (kind; group, namespace and name when given) and their fields the cluster
// owns, as kIgnoreFieldsAnnotation.
struct IgnoreRule {
  std::string kind;
  std::optional<std::string> group, ns, name;  // absent: any
  std::vector<std::string> fields;             // as written
  std::vector<std::vector<FieldStep>> steps;   // parsed, one per field
  bool Matches(const GroupVersionKind& gvk, const std::string& ns, const std::string& name) const;
  bool operator==(const IgnoreRule& o) const {
    return kind == o.kind && group == o.group && this->ns == o.ns && this->name == o.name && fields == o.fields;
  }
};
// A SyncConfig's spec.ignoreDifferences (validation has refused a wrong one;
// what cannot be read is left out).
std::vector<IgnoreRule> IgnoreRulesOf(const Json& ignore_differences);
// The rules as a SyncConfig writes them (GitRepository status.syncConfig).
Json IgnoreRulesJson(const std::vector<IgnoreRule>& rules);

// The kinds a repository may hold and bosun may manage: every registered kind
// except the records bosun writes itself (Revision, GitRepository) and those
// only the system writes (Event, Lease, Node).
const std::vector<const KindInfo*>& ManageableKinds();

struct FieldChange {
  enum class Op { kAdded, kRemoved, kChanged };
  std::string field;  // "spec.template.spec.containers[0].image", "metadata.labels.app"
  Op op = Op::kChanged;
  Json from;  // null for kAdded, and when redacted
  Json to;    // null for kRemoved, and when redacted
  bool redacted = false;  // a Secret's value: shown as "changed", never its content
};
const char* FieldChangeOpName(FieldChange::Op op);  // "added", "removed", "changed"
// {"field","op","from","to"} as docs/GITOPS.md shows it (no from/to when redacted).
Json FieldChangeToJson(const FieldChange& c);

// The differences between the live object and the desired one, by the rules
// of docs/GITOPS.md (metadata other than labels/annotations and status are
// ignored; only desired label/annotation keys count, plus keys the last apply
// set (kAppliedKeysAnnotation on `live`) that are no longer desired;
// bosun.dev/revision and bosun.dev/applied-keys are ignored). Empty: in sync.
// Values of Secrets (data, stringData) and SealedSecrets (spec.encryptedData)
// are redacted.
std::vector<FieldChange> DiffDesiredLive(const Object& desired, const Object& live);

struct PlannedChange {
  // kReplace: an update that changes an immutable field, made with force: the
  // object is deleted and created again (a new uid), in the same transaction.
  enum class Action { kCreate, kUpdate, kDelete, kUnchanged, kReplace };
  Action action = Action::kUnchanged;
  const KindInfo* kind = nullptr;
  std::string ns;    // "" for cluster-scoped kinds
  std::string name;
  std::string path;  // the manifest's file (from the repository root); for kDelete the live object's source-path
  // kCreate / kUpdate / kReplace: the object to write — the desired object
  // with bosun's marks, and for kUpdate and kReplace the live
  // metadata.resourceVersion (precondition), for kUpdate also its uid and
  // creationTimestamp; kDelete: the live object.
  Object object;
  std::vector<FieldChange> diff;  // kUpdate, kReplace: live → desired
  // kUpdate, kReplace: the immutable fields it changes (core/immutable.h),
  // at their place in the manifest. A kUpdate with any is refused by the
  // API: the sync fails the revision with them, and `bosun diff` says so.
  std::vector<Diagnostic> immutable;
  // kUpdate, kUnchanged: how the live object differs from the repository in
  // fields the cluster owns (kIgnoreFieldsAnnotation, ignoreDifferences):
  // kept as they are, shown by `bosun diff`.
  std::vector<FieldChange> ignored;
  // For an entry of Plan::kept: why it stays.
  enum class Kept { kPruneOff, kPruneDisabled, kNamespaceInUse, kSystemNamespace };
  Kept kept = Kept::kPruneOff;
};
// "created", "updated", "deleted", "unchanged", "replaced"
const char* ActionName(PlannedChange::Action a);
// As a record's kept entry names it: "pruneOff", "pruneDisabled",
// "namespaceInUse", "systemNamespace".
const char* KeptName(PlannedChange::Kept k);
// Why an object with that name stays, for a person: "the SyncConfig sets
// prune: false", … (an unknown name: "").
std::string KeptBecause(std::string_view name);

struct Plan {
  std::vector<PlannedChange> changes;  // in apply order: creates/updates by ApplyOrder, then deletes in reverse order
  // The managed objects no longer desired that stay (as kDelete changes that
  // are not made, in the order deletes would have), each with its
  // PlannedChange::kept: prune off, the object's kPruneAnnotation, or a
  // Namespace still in use or never deleted.
  std::vector<PlannedChange> kept;
  int created = 0, updated = 0, deleted = 0, unchanged = 0, replaced = 0;
  bool empty() const { return created + updated + deleted + replaced == 0; }
  // The kUpdate changes that change immutable fields: each one's
  // diagnostics (empty when the plan can be applied).
  std::vector<Diagnostic> ImmutableErrors() const;
};

struct PlanOptions {
  std::string revision;  // the commit: value of bosun.dev/revision on created/updated objects
  bool prune = true;     // delete managed objects that are no longer desired; else list them in Plan::kept
  // The namespaces the whole desired set puts objects in, when the plan is
  // given only part of it (the sync's incremental plan); null: the desired
  // objects given. A Namespace no longer desired but still used is kept, not
  // pruned: deleting it would delete those objects with it.
  const std::set<std::string>* used_namespaces = nullptr;
  // Delete and create again an object whose update changes an immutable
  // field (SyncConfig spec.force); a manifest's kForceAnnotation overrides it.
  bool force = false;
  // The SyncConfig's spec.ignoreDifferences (with each manifest's
  // kIgnoreFieldsAnnotation).
  std::vector<IgnoreRule> ignore = {};
};
// Whether `m` may be replaced: its kForceAnnotation, else `force`.
bool ForceReplace(const Manifest& m, bool force);
// The advice of a plan with ImmutableErrors (the sync's and `bosun diff`'s).
std::string ImmutableAdvice(size_t objects);
// bosun's own settings (SyncConfig, Policy): a revision holding nothing else
// has no manifests.
bool IsSettingsKind(const GroupVersionKind& gvk);
// Why a revision with no manifests under `path` (settings aside) is refused
// while `live_objects` objects are live and prune is on (the sync's
// NoManifests refusal and `bosun diff`'s).
std::string NoManifestsMessage(const std::string& path, size_t live_objects);
// The namespaces `desired` puts objects in ("default" for namespaced ones
// without one).
std::set<std::string> UsedNamespaces(const std::vector<std::pair<const KindInfo*, const Manifest*>>& desired);

// `live` holds, for every kind of the desired set and every kind with managed
// objects, the live objects (managed or not — an unmanaged object with a
// desired name is adopted by an update). Only objects carrying the managed-by
// label are ever deleted. Namespaced desired objects without a namespace go
// to "default".
Plan PlanSync(const std::vector<Manifest>& desired, const std::vector<Object>& live, const PlanOptions& options);
// The same for desired objects held elsewhere (the sync controller's
// snapshot), which are not copied.
Plan PlanSyncRefs(const std::vector<const Manifest*>& desired, const std::vector<Object>& live,
                  const PlanOptions& options);

// The objects of a desired set that a sync would create in a namespace that
// the set does not define and that does not exist ("default" always does).
// The API refuses such creates (`namespaces "shop" not found`), so the sync
// refuses the revision, each object named at its metadata.namespace, and
// `bosun diff` says it would.
struct MissingNamespaces {
  std::set<std::string> namespaces;     // the missing ones
  std::set<std::string> terminating;    // the ones being deleted
  std::vector<Diagnostic> diagnostics;  // one error per object, sorted
  bool empty() const { return diagnostics.empty(); }
  // "2 objects in namespace "shop", which does not exist"
  std::string Summary() const;
};
// A Namespace being deleted (Terminating) takes no new content either, even
// one the set defines: its objects are refused the same way until it is gone.
enum class NamespaceState { kMissing, kTerminating, kActive };
NamespaceState NamespaceStateOf(const std::optional<Object>& ns);
// The state of Namespace `ns` as the API has it.
Result<NamespaceState> GetNamespaceState(state::Client& client, const std::string& ns);
// `namespace_state` answers from the cluster; `object_exists` whether the
// object is there (one already stored, which an older bosun wrote without
// this check, is updated, and the API allows that). Their errors are
// returned. `desired` holds each object with its kind (nullptr for an
// unknown one). The namespaces are looked up first, and the objects only of
// those that lack: a pass over a large set costs a lookup per namespace.
Result<MissingNamespaces> FindMissingNamespaces(
    const std::vector<std::pair<const KindInfo*, const Manifest*>>& desired,
    const std::function<Result<NamespaceState>(const std::string& ns)>& namespace_state,
    const std::function<Result<bool>(const KindInfo& kind, const Manifest& m)>& object_exists,
    const std::set<std::string>* used = nullptr);  // UsedNamespaces(desired), when known

// Lists what PlanSync needs through the API: every object of the desired
// set's kinds, and every managed object of the other kinds.
Result<std::vector<Object>> ListLive(state::Client& client, const std::vector<Manifest>& desired);

}  // namespace bosun::reconciler
