// What applying a desired set would change: reconciler/plan.h.
#include "reconciler/plan.h"

#include <gtest/gtest.h>

#include "core/manifests.h"

namespace bosun::reconciler {
namespace {

std::vector<Manifest> Load(const std::vector<SourceFile>& files) {
  DesiredSet set = LoadDesiredSet(files);
  for (const auto& d : set.diagnostics) {
    if (d.severity == Severity::kError) ADD_FAILURE() << d.ToString();
  }
  return set.objects;
}

const char* kDeploy = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
  annotations: {team: storefront}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.local/web:1.0
)";

const char* kNamespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
const char* kService = R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80}]
)";
const char* kSecret = R"(apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
stringData: {password: hunter2}
)";

// What the server would hold after applying a planned write.
Object Stored(const PlannedChange& c, const std::string& rv = "7") {
  Object o = c.object;
  o.set_resource_version(rv);
  o.set_uid("u-" + c.name);
  o.set_creation_timestamp("2026-11-21T00:00:00Z");
  o.set_generation(1);
  return o;
}

std::vector<Object> ApplyAll(const Plan& plan) {
  std::vector<Object> live;
  for (const auto& c : plan.changes) {
    if (c.action == PlannedChange::Action::kCreate || c.action == PlannedChange::Action::kUpdate ||
        c.action == PlannedChange::Action::kUnchanged) {
      live.push_back(Stored(c));
    }
  }
  return live;
}

TEST(PlanSync, FirstSyncCreatesEverythingInDependencyOrderWithMarks) {
  auto desired = Load({{"shop/svc.yaml", kService}, {"shop/deploy.yaml", kDeploy}, {"shop/ns.yaml", kNamespace}});
  Plan plan = PlanSync(desired, {}, {.revision = "abc123", .prune = true});
  ASSERT_EQ(plan.changes.size(), 3u);
  EXPECT_EQ(plan.created, 3);
  EXPECT_EQ(plan.changes[0].kind->gvk.kind, "Namespace");
  EXPECT_EQ(plan.changes[1].kind->gvk.kind, "Deployment");
  EXPECT_EQ(plan.changes[2].kind->gvk.kind, "Service");
  const Object& d = plan.changes[1].object;
  EXPECT_EQ(d.label(kManagedByLabel), std::optional<std::string>("bosun"));
  EXPECT_EQ(d.annotation(kSourcePathAnnotation), std::optional<std::string>("shop/deploy.yaml"));
  EXPECT_EQ(d.annotation(kRevisionAnnotation), std::optional<std::string>("abc123"));
  EXPECT_EQ(plan.changes[0].ns, "");
  EXPECT_EQ(plan.changes[1].ns, "shop");
}

TEST(PlanSync, NamespacedObjectWithoutNamespaceGoesToDefault) {
  auto desired = Load({{"cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"}});
  Plan plan = PlanSync(desired, {}, {.revision = "r1"});
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].ns, "default");
  EXPECT_EQ(plan.changes[0].object.namespace_(), "default");
}

TEST(PlanSync, NothingChangedIsUnchangedEvenAtANewRevision) {
  auto desired = Load({{"ns.yaml", kNamespace}, {"deploy.yaml", kDeploy}});
  auto live = ApplyAll(PlanSync(desired, {}, {.revision = "r1"}));
  Plan again = PlanSync(desired, live, {.revision = "r2"});
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(again.unchanged, 2);
}

TEST(PlanSync, ChangedFieldIsAnUpdateWithAFieldDiffAndThePrecondition) {
  auto v1 = Load({{"deploy.yaml", kDeploy}});
  auto live = ApplyAll(PlanSync(v1, {}, {.revision = "r1"}));
  std::string changed = kDeploy;
  changed.replace(changed.find("replicas: 3"), 11, "replicas: 5");
  changed.replace(changed.find("web:1.0"), 7, "web:1.1");
  Plan plan = PlanSync(Load({{"deploy.yaml", changed}}), live, {.revision = "r2"});
  ASSERT_EQ(plan.updated, 1);
  const PlannedChange& c = plan.changes[0];
  EXPECT_EQ(c.action, PlannedChange::Action::kUpdate);
  EXPECT_EQ(c.object.resource_version(), "7");
  EXPECT_EQ(c.object.annotation(kRevisionAnnotation), std::optional<std::string>("r2"));
  ASSERT_EQ(c.diff.size(), 2u);
  EXPECT_EQ(FieldChangeToJson(c.diff[0]),
            Json::parse(R"({"field":"spec.replicas","op":"changed","from":3,"to":5})"));
  EXPECT_EQ(c.diff[1].field, "spec.template.spec.containers[0].image");
  EXPECT_EQ(c.diff[1].to, "registry.local/web:1.1");
}

// An update the API would refuse (an immutable field changed) carries the
// field at its place in the manifest; with force (the SyncConfig's, or the
// object's own annotation, which wins) it is a replace instead. A change of
// mutable fields alone stays an update whatever force says.
TEST(PlanSync, AnImmutableFieldChangedIsNamedOrWithForceReplaced) {
  const char* v1 = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nimmutable: true\ndata: {a: b}\n";
  auto live = ApplyAll(PlanSync(Load({{"cm.yaml", v1}}), {}, {.revision = "r1"}));
  const std::string v2 = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nimmutable: true\ndata: {a: z}\n";

  Plan refused = PlanSync(Load({{"cm.yaml", v2}}), live, {.revision = "r2"});
  ASSERT_EQ(refused.updated, 1);
  ASSERT_EQ(refused.ImmutableErrors().size(), 1u);
  EXPECT_EQ(refused.ImmutableErrors()[0].ToString(), "cm.yaml:5:7: data: field is immutable when `immutable` is set");

  // A Secret's type, as Kubernetes fixes it ("Opaque" when not given).
  const char* s1 = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {user: ada}\n";
  auto secret = ApplyAll(PlanSync(Load({{"s.yaml", s1}}), {}, {.revision = "r1"}));
  const std::string opaque = std::string(s1) + "type: Opaque\n";
  EXPECT_TRUE(PlanSync(Load({{"s.yaml", opaque}}), secret, {.revision = "r2"}).ImmutableErrors().empty());
  const std::string basic = std::string(s1) + "type: kubernetes.io/basic-auth\n";
  Plan retyped = PlanSync(Load({{"s.yaml", basic}}), secret, {.revision = "r2"});
  ASSERT_EQ(retyped.ImmutableErrors().size(), 1u);
  EXPECT_EQ(retyped.ImmutableErrors()[0].ToString(), "s.yaml:5:7: type: field is immutable");

  Plan forced = PlanSync(Load({{"cm.yaml", v2}}), live, {.revision = "r2", .force = true});
  ASSERT_EQ(forced.changes.size(), 1u);
  EXPECT_EQ(forced.replaced, 1);
  EXPECT_EQ(forced.updated, 0);
  EXPECT_FALSE(forced.empty());
  EXPECT_TRUE(forced.ImmutableErrors().empty());
  const PlannedChange& c = forced.changes[0];
  EXPECT_EQ(c.action, PlannedChange::Action::kReplace);
  EXPECT_STREQ(ActionName(c.action), "replaced");
  EXPECT_EQ(c.object.resource_version(), "7");  // the precondition on the one it replaces
  EXPECT_EQ(c.object.uid(), "");  // not the live one's (as an update carries it): the server gives it a new one
  EXPECT_EQ(c.diff.size(), 1u);

  const std::string kept =
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {bosun.dev/force: \"false\"}}\n"
      "immutable: true\ndata: {a: z}\n";
  EXPECT_EQ(PlanSync(Load({{"cm.yaml", kept}}), live, {.revision = "r2", .force = true}).ImmutableErrors().size(), 1u);
  const std::string annotated =
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {bosun.dev/force: \"true\"}}\n"
      "immutable: true\ndata: {a: z}\n";
  EXPECT_EQ(PlanSync(Load({{"cm.yaml", annotated}}), live, {.revision = "r2"}).replaced, 1);

  const std::string relabelled =
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {tier: x}}\nimmutable: true\ndata: {a: b}\n";
  Plan mutable_only = PlanSync(Load({{"cm.yaml", relabelled}}), live, {.revision = "r2", .force = true});
  EXPECT_EQ(mutable_only.updated, 1);
  EXPECT_EQ(mutable_only.replaced, 0);
}

TEST(PlanSync, PruneDeletesOnlyManagedObjectsAndDependentsFirst) {
  auto all = Load({{"ns.yaml", kNamespace}, {"deploy.yaml", kDeploy}, {"svc.yaml", kService}});
  auto live = ApplyAll(PlanSync(all, {}, {.revision = "r1"}));
  Object hand(GroupVersionKind{"", "v1", "ConfigMap"}, "shop", "by-hand");
  live.push_back(hand);
  Plan plan = PlanSync({}, live, {.revision = "r2", .prune = true});
  ASSERT_EQ(plan.deleted, 3);
  EXPECT_EQ(plan.changes[0].kind->gvk.kind, "Service");
  EXPECT_EQ(plan.changes[1].kind->gvk.kind, "Deployment");
  EXPECT_EQ(plan.changes[2].kind->gvk.kind, "Namespace");
  EXPECT_EQ(plan.changes[1].path, "deploy.yaml");
  Plan keep = PlanSync({}, live, {.revision = "r2", .prune = false});
  EXPECT_TRUE(keep.empty());
  EXPECT_EQ(keep.deleted, 0);
  // What would have been deleted is listed as kept, in the same order; the
  // unmanaged object is neither.
  ASSERT_EQ(keep.kept.size(), 3u);
  EXPECT_EQ(keep.kept[0].kind->gvk.kind, "Service");
  EXPECT_EQ(keep.kept[1].path, "deploy.yaml");
  EXPECT_EQ(keep.kept[2].kind->gvk.kind, "Namespace");
  for (const auto& c : keep.kept) EXPECT_EQ(c.kept, PlannedChange::Kept::kPruneOff) << c.name;
  EXPECT_TRUE(plan.kept.empty());
}

// The API will not delete "default" or bosun-system, so a repository that
// managed one and dropped it keeps it (listed as kept) instead of failing
// every revision on a 403; a Namespace already Terminating is neither.
TEST(PlanSync, NamespacesThatMayNotGoAreKeptAndTerminatingOnesLeftAlone) {
  auto all = Load({{"ns.yaml", kNamespace},
                   {"default.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n"},
                   {"sys.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: bosun-system}\n"},
                   {"gone.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: gone}\n"}});
  auto live = ApplyAll(PlanSync(all, {}, {.revision = "r1"}));
  ASSERT_EQ(live.size(), 4u);
  for (Object& o : live) {
    if (o.name() == "gone") o.json()["metadata"]["deletionTimestamp"] = "2026-11-21T00:00:00Z";
  }
  Plan plan = PlanSync({}, live, {.revision = "r2", .prune = true});
  ASSERT_EQ(plan.deleted, 1);
  EXPECT_EQ(plan.changes[0].name, "shop");
  ASSERT_EQ(plan.kept.size(), 2u);
  EXPECT_EQ(plan.kept[0].name, "bosun-system");
  EXPECT_EQ(plan.kept[1].name, "default");
  EXPECT_EQ(plan.kept[1].kept, PlannedChange::Kept::kSystemNamespace);
}

// A Namespace that left the repository while objects of it did not stays:
// deleting it would delete them with it.
TEST(PlanSync, ANamespaceItsObjectsStillUseIsKept) {
  auto all = Load({{"ns.yaml", kNamespace}, {"deploy.yaml", kDeploy}});
  auto live = ApplyAll(PlanSync(all, {}, {.revision = "r1"}));
  auto without_ns = Load({{"deploy.yaml", kDeploy}});
  Plan plan = PlanSync(without_ns, live, {.revision = "r2", .prune = true});
  EXPECT_EQ(plan.deleted, 0);
  ASSERT_EQ(plan.kept.size(), 1u);
  EXPECT_EQ(plan.kept[0].name, "shop");
  EXPECT_EQ(plan.kept[0].kept, PlannedChange::Kept::kNamespaceInUse);
  // The sync's incremental plan names the namespaces of the whole set.
  std::set<std::string> used = {"shop"};
  Plan part = PlanSync({}, live, {.revision = "r2", .prune = true, .used_namespaces = &used});
  for (const auto& c : part.changes) EXPECT_NE(c.name, "shop") << "pruned although still used";
}

// A Namespace's spec.finalizers are the cluster's (the API sets them on
// delete): never a difference, whatever the manifest says.
TEST(PlanSync, ANamespacesFinalizersAreNeverADifference) {
  auto plain = Load({{"ns.yaml", kNamespace}});
  auto with = Load(
      {{"ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\nspec: {finalizers: [kubernetes]}\n"}});
  Object live = ApplyAll(PlanSync(plain, {}, {.revision = "r1"}))[0];
  EXPECT_EQ(PlanSync(with, {live}, {.revision = "r1"}).unchanged, 1);
  live.json()["spec"] = {{"finalizers", Json::array({"kubernetes"})}};
  EXPECT_EQ(PlanSync(plain, {live}, {.revision = "r1"}).unchanged, 1);
  live.json()["spec"]["other"] = 1;
  EXPECT_EQ(PlanSync(plain, {live}, {.revision = "r1"}).updated, 1) << "other spec fields still count";
}

// An object the repository marks bosun.dev/prune: "false" stays when its
// manifest leaves, with prune on, and says why; the others go.
TEST(PlanSync, AnObjectMarkedPruneFalseStaysWhenItLeavesTheRepository) {
  const std::string pvc_like =
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: data\n  namespace: shop\n  annotations:\n"
      "    bosun.dev/prune: \"false\"\ndata: {k: v}\n";
  auto all = Load({{"ns.yaml", kNamespace}, {"data.yaml", pvc_like}, {"svc.yaml", kService}});
  auto live = ApplyAll(PlanSync(all, {}, {.revision = "r1"}));
  Plan plan = PlanSync(Load({{"ns.yaml", kNamespace}}), live, {.revision = "r2", .prune = true});
  ASSERT_EQ(plan.deleted, 1);
  EXPECT_EQ(plan.changes.back().kind->gvk.kind, "Service");
  ASSERT_EQ(plan.kept.size(), 1u);
  EXPECT_EQ(plan.kept[0].name, "data");
  EXPECT_EQ(plan.kept[0].path, "data.yaml");
  EXPECT_EQ(plan.kept[0].kept, PlannedChange::Kept::kPruneDisabled);
  EXPECT_EQ(KeptBecause(KeptName(plan.kept[0].kept)), "its bosun.dev/prune annotation is \"false\"");
  // "true" is the default: pruned as any other.
  for (Object& o : live) {
    if (o.name() == "data") o.set_annotation(kPruneAnnotation, "true");
  }
  EXPECT_EQ(PlanSync(Load({{"ns.yaml", kNamespace}}), live, {.revision = "r2", .prune = true}).deleted, 2);
}

// Fields the cluster owns (bosun.dev/ignore-fields, ignoreDifferences): a
// create writes the repository's value; from then on the live value is kept,
// neither drift nor changed by an update of other fields, and the plan says
// how it differs.
TEST(PlanSync, FieldsTheClusterOwnsKeepTheirLiveValues) {
  std::string owned = kDeploy;
  owned.replace(owned.find("  annotations: {team: storefront}"), 33,
                "  annotations: {team: storefront, bosun.dev/ignore-fields: \"spec.replicas\"}");
  auto desired = Load({{"deploy.yaml", owned}});
  Plan first = PlanSync(desired, {}, {.revision = "r1"});
  ASSERT_EQ(first.created, 1);
  EXPECT_EQ(first.changes[0].object.spec()["replicas"], 3);
  Object live = Stored(first.changes[0]);
  live.json()["spec"]["replicas"] = 5;  // scaled by hand
  Plan again = PlanSync(desired, {live}, {.revision = "r1"});
  ASSERT_EQ(again.unchanged, 1) << "a field the cluster owns is not drift";
  ASSERT_EQ(again.changes[0].ignored.size(), 1u);
  EXPECT_EQ(again.changes[0].ignored[0].field, "spec.replicas");
  EXPECT_EQ(again.changes[0].ignored[0].from, 5);
  EXPECT_EQ(again.changes[0].ignored[0].to, 3);
  // A new image in the repository updates the image and keeps 5 replicas.
  std::string v2 = owned;
  v2.replace(v2.find("web:1.0"), 7, "web:2.0");
  Plan update = PlanSync(Load({{"deploy.yaml", v2}}), {live}, {.revision = "r2"});
  ASSERT_EQ(update.updated, 1);
  ASSERT_EQ(update.changes[0].diff.size(), 1u);
  EXPECT_EQ(update.changes[0].diff[0].field, "spec.template.spec.containers[0].image");
  EXPECT_EQ(update.changes[0].object.spec()["replicas"], 5);
  // Gone from the live object (a field with a server default): the update
  // does not put the repository's back either.
  live.json()["spec"].erase("replicas");
  EXPECT_EQ(PlanSync(desired, {live}, {.revision = "r1"}).unchanged, 1);
  // Without the annotation the repository's value is drift again.
  live.json()["spec"]["replicas"] = 5;
  Plan plain = PlanSync(Load({{"deploy.yaml", kDeploy}}), {live}, {.revision = "r1"});
  ASSERT_EQ(plain.updated, 1);
  EXPECT_TRUE(plain.changes[0].ignored.empty());
}

TEST(PlanSync, IgnoreDifferencesRulesMatchByKindNamespaceAndNameAndEveryListItem) {
  auto desired = Load({{"deploy.yaml", kDeploy}});
  Object live = Stored(PlanSync(desired, {}, {.revision = "r1"}).changes[0]);
  live.json()["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.local/web:hotfix";
  live.json()["spec"]["template"]["spec"]["containers"][0]["resources"] = {{"limits", {{"cpu", "2"}}}};
  auto rules = [](const std::string& json) { return IgnoreRulesOf(Json::parse(json)); };
  const auto every = rules(
      R"([{"kind": "Deployment", "fields": ["spec.template.spec.containers[*].image",
                                             "spec.template.spec.containers[*].resources"]}])");
  ASSERT_EQ(every.size(), 1u);
  Plan p = PlanSync(desired, {live}, {.revision = "r1", .ignore = every});
  EXPECT_EQ(p.unchanged, 1);
  EXPECT_EQ(p.changes[0].ignored.size(), 2u);
  // Another name, namespace, group or kind does not match: the hand edits
  // are drift.
  for (const char* other : {R"([{"kind": "Deployment", "name": "api", "fields": ["spec.template"]}])",
                            R"([{"kind": "Deployment", "namespace": "blog", "fields": ["spec.template"]}])",
                            R"([{"kind": "Deployment", "group": "batch", "fields": ["spec.template"]}])",
                            R"([{"kind": "StatefulSet", "fields": ["spec.template"]}])"}) {
    EXPECT_EQ(PlanSync(desired, {live}, {.revision = "r1", .ignore = rules(other)}).updated, 1) << other;
  }
  const auto exact = rules(
      R"([{"kind": "Deployment", "group": "apps", "namespace": "shop", "name": "web", "fields": ["spec.template"]}])");
  EXPECT_EQ(PlanSync(desired, {live}, {.revision = "r1", .ignore = exact}).unchanged, 1);
}

// The edges of what the cluster owns: list items, maps the repository does
// not write, Secrets, and a replace.
TEST(PlanSync, FieldsTheClusterOwnsInListsMapsSecretsAndReplaces) {
  auto desired = Load({{"deploy.yaml", kDeploy}});
  Object live = Stored(PlanSync(desired, {}, {.revision = "r1"}).changes[0]);
  Json& containers = live.json()["spec"]["template"]["spec"]["containers"];
  containers.push_back({{"name", "proxy"}, {"image", "envoy:1"}});  // injected by someone else
  auto rules = [](const std::string& kind, const std::vector<std::string>& fields) {
    return IgnoreRulesOf(Json::array({{{"kind", kind}, {"fields", fields}}}));
  };
  // An item the repository lacks, owned: kept (appended after its last
  // item), and listed as the repository not having it.
  Plan item = PlanSync(desired, {live},
                       {.revision = "r1", .ignore = rules("Deployment", {"spec.template.spec.containers[1]"})});
  EXPECT_EQ(item.unchanged, 1);
  ASSERT_EQ(item.changes[0].ignored.size(), 1u);
  EXPECT_EQ(item.changes[0].ignored[0].field, "spec.template.spec.containers[1]");
  EXPECT_EQ(item.changes[0].ignored[0].op, FieldChange::Op::kRemoved);
  // [*] last: the whole live list.
  EXPECT_EQ(
      PlanSync(desired, {live}, {.revision = "r1", .ignore = rules("Deployment", {"spec.template.spec.containers[*]"})})
          .unchanged,
      1);
  // [*].image: only the images; the injected container is still a change.
  Plan images = PlanSync(desired, {live},
                         {.revision = "r1", .ignore = rules("Deployment", {"spec.template.spec.containers[*].image"})});
  EXPECT_EQ(images.updated, 1);
  // A list the repository does not write is not made up: no stray null.
  live.json()["spec"]["template"]["spec"]["tolerations"] = Json::array({{{"operator", "Exists"}}});
  Plan list = PlanSync(desired, {live},
                       {.revision = "r1", .ignore = rules("Deployment", {"spec.template.spec.tolerations[0]"})});
  ASSERT_EQ(list.updated, 1);
  EXPECT_FALSE(list.changes[0].object.spec()["template"]["spec"].contains("tolerations"))
      << list.changes[0].object.spec().dump();
  // A map the repository does not write is made for the live value, and
  // only that field is listed, not the map.
  live = Stored(PlanSync(desired, {}, {.revision = "r1"}).changes[0]);
  live.json()["spec"]["strategy"] = {{"type", "Recreate"}};
  Plan strategy = PlanSync(desired, {live}, {.revision = "r1", .ignore = rules("Deployment", {"spec.strategy.type"})});
  EXPECT_EQ(strategy.unchanged, 1);
  ASSERT_EQ(strategy.changes[0].ignored.size(), 1u);
  EXPECT_EQ(strategy.changes[0].ignored[0].field, "spec.strategy.type");

  // A Secret's owned value is listed, never shown.
  auto secret = Load({{"secret.yaml", kSecret}});
  Object live_secret = Stored(PlanSync(secret, {}, {.revision = "r1"}).changes[0]);
  live_secret.json()["stringData"]["password"] = "rotated-by-hand";
  Plan rotated =
      PlanSync(secret, {live_secret}, {.revision = "r1", .ignore = rules("Secret", {"stringData.password"})});
  EXPECT_EQ(rotated.unchanged, 1);
  ASSERT_EQ(rotated.changes[0].ignored.size(), 1u);
  EXPECT_TRUE(rotated.changes[0].ignored[0].redacted);
  EXPECT_EQ(FieldChangeToJson(rotated.changes[0].ignored[0]).dump().find("rotated"), std::string::npos);

  // A replace creates the object again as the repository has it.
  const std::string job =
      "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, namespace: shop}\n"
      "spec:\n  backoffLimit: 2\n  template:\n    spec:\n      restartPolicy: Never\n"
      "      containers: [{name: m, image: IMAGE}]\n";
  auto with = [&](const std::string& image) {
    std::string y = job;
    return Load({{"job.yaml", y.replace(y.find("IMAGE"), 5, image)}});
  };
  Object live_job = Stored(PlanSync(with("m:1"), {}, {.revision = "r1"}).changes[0]);
  live_job.json()["spec"]["backoffLimit"] = 6;
  Plan replaced = PlanSync(with("m:2"), {live_job},
                           {.revision = "r2", .force = true, .ignore = rules("Job", {"spec.backoffLimit"})});
  ASSERT_EQ(replaced.replaced, 1);
  EXPECT_EQ(replaced.changes[0].object.spec()["backoffLimit"], 2);
}

// A Namespace whose objects are kept (bosun.dev/prune: "false") stays with
// them: deleting it would delete them.
TEST(PlanSync, ANamespaceHoldingAKeptObjectIsKept) {
  const std::string data =
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: data\n  namespace: shop\n  annotations:\n"
      "    bosun.dev/prune: \"false\"\ndata: {k: v}\n";
  auto live = ApplyAll(PlanSync(Load({{"ns.yaml", kNamespace}, {"data.yaml", data}}), {}, {.revision = "r1"}));
  Plan plan = PlanSync({}, live, {.revision = "r2", .prune = true});
  EXPECT_EQ(plan.deleted, 0);
  ASSERT_EQ(plan.kept.size(), 2u);
  EXPECT_EQ(plan.kept[0].kept, PlannedChange::Kept::kPruneDisabled);
  EXPECT_EQ(plan.kept[1].name, "shop");
  EXPECT_EQ(plan.kept[1].kept, PlannedChange::Kept::kNamespaceInUse);
}

TEST(PlanSync, UnmanagedObjectWithADesiredNameIsAdopted) {
  auto desired = Load({{"ns.yaml", kNamespace}});
  Object existing(GroupVersionKind{"", "v1", "Namespace"}, "", "shop");
  existing.set_resource_version("3");
  Plan plan = PlanSync(desired, {existing}, {.revision = "r1"});
  ASSERT_EQ(plan.updated, 1);
  EXPECT_EQ(plan.changes[0].diff[0].field, "metadata.labels[bosun.dev/managed-by]");
  EXPECT_EQ(plan.changes[0].object.resource_version(), "3");
}

TEST(DiffDesiredLive, ServerFieldsStatusAndOtherWritersAnnotationsAreNotDrift) {
  auto desired = Load({{"deploy.yaml", kDeploy}});
  Plan plan = PlanSync(desired, {}, {.revision = "r1"});
  Object live = Stored(plan.changes[0]);
  live.json()["status"] = {{"replicas", 3}};
  live.set_annotation("deployment.kubernetes.io/revision", "4");
  live.set_generation(9);
  EXPECT_TRUE(DiffDesiredLive(plan.changes[0].object, live).empty());
}

TEST(DiffDesiredLive, TheSchedulersBindingOfAnUnboundPodIsNotDriftAndAnUpdateKeepsIt) {
  const char* pod = R"(apiVersion: v1
kind: Pod
metadata:
  name: one
spec:
  containers:
  - name: c
    image: busybox:1
)";
  auto desired = Load({{"pod.yaml", pod}});
  Plan plan = PlanSync(desired, {}, {.revision = "r1"});
  Object live = Stored(plan.changes[0]);
  live.json()["spec"]["nodeName"] = "node-a";  // bound by the scheduler
  EXPECT_TRUE(DiffDesiredLive(plan.changes[0].object, live).empty());
  // A real change is still an update, and it keeps the pod on its node.
  std::string changed = pod;
  changed.replace(changed.find("busybox:1"), 9, "busybox:2");
  Plan next = PlanSync(Load({{"pod.yaml", changed}}), {live}, {.revision = "r2"});
  ASSERT_EQ(next.updated, 1);
  ASSERT_EQ(next.changes[0].diff.size(), 1u);
  EXPECT_EQ(next.changes[0].diff[0].field, "spec.containers[0].image");
  EXPECT_EQ(next.changes[0].object.json()["spec"]["nodeName"], "node-a");
  // A pod the repository binds itself: moving it elsewhere by hand is drift.
  std::string pinned = std::string(pod) + "  nodeName: node-b\n";
  Plan p3 = PlanSync(Load({{"pod.yaml", pinned}}), {}, {.revision = "r3"});
  EXPECT_EQ(DiffDesiredLive(p3.changes[0].object, live).size(), 1u);
}

TEST(DiffDesiredLive, HandEditsAreDrift) {
  auto desired = Load({{"deploy.yaml", kDeploy}});
  Plan plan = PlanSync(desired, {}, {.revision = "r1"});
  const Object& want = plan.changes[0].object;
  Object live = Stored(plan.changes[0]);
  live.json()["spec"]["replicas"] = 10;
  live.json()["spec"]["paused"] = true;
  live.set_label("app", "other");
  auto diff = DiffDesiredLive(want, live);
  ASSERT_EQ(diff.size(), 3u);
  EXPECT_EQ(diff[0].field, "metadata.labels.app");
  EXPECT_EQ(diff[1].field, "spec.paused");
  EXPECT_EQ(diff[1].op, FieldChange::Op::kRemoved);  // applying removes it
  EXPECT_EQ(diff[2].field, "spec.replicas");
}

TEST(PlanSync, AnnotationLeavingTheManifestIsRemovedButOthersAreKept) {
  auto v1 = Load({{"deploy.yaml", kDeploy}});
  auto live = ApplyAll(PlanSync(v1, {}, {.revision = "r1"}));
  live[0].set_annotation("deployment.kubernetes.io/revision", "2");
  std::string v2 = kDeploy;
  v2.replace(v2.find("  annotations: {team: storefront}\n"), 34, "");
  Plan plan = PlanSync(Load({{"deploy.yaml", v2}}), live, {.revision = "r2"});
  ASSERT_EQ(plan.updated, 1);
  ASSERT_EQ(plan.changes[0].diff.size(), 1u);
  EXPECT_EQ(plan.changes[0].diff[0].field, "metadata.annotations.team");
  EXPECT_EQ(plan.changes[0].diff[0].op, FieldChange::Op::kRemoved);
  const Object& written = plan.changes[0].object;
  EXPECT_FALSE(written.annotation("team").has_value());
  EXPECT_EQ(written.annotation("deployment.kubernetes.io/revision"), std::optional<std::string>("2"));
  // And once written, it is in sync.
  Object after = written;
  EXPECT_TRUE(DiffDesiredLive(PlanSync(Load({{"deploy.yaml", v2}}), {}, {.revision = "r2"}).changes[0].object, after)
                  .empty());
}

TEST(DiffDesiredLive, SecretValuesAreNeverShown) {
  auto v1 = Load({{"secret.yaml", kSecret}});
  auto live = ApplyAll(PlanSync(v1, {}, {.revision = "r1"}));
  std::string v2 = kSecret;
  v2.replace(v2.find("hunter2"), 7, "correct-horse");
  Plan plan = PlanSync(Load({{"secret.yaml", v2}}), live, {.revision = "r2"});
  ASSERT_EQ(plan.updated, 1);
  ASSERT_EQ(plan.changes[0].diff.size(), 1u);
  const FieldChange& c = plan.changes[0].diff[0];
  EXPECT_EQ(c.field, "stringData.password");
  EXPECT_TRUE(c.redacted);
  std::string shown = FieldChangeToJson(c).dump();
  EXPECT_EQ(shown.find("hunter2"), std::string::npos);
  EXPECT_EQ(shown.find("correct-horse"), std::string::npos);
  EXPECT_EQ(FieldChangeToJson(c), Json::parse(R"({"field":"stringData.password","op":"changed"})"));
}

// kubectl's last-applied-configuration on a Secret holds its data: shown by
// name only. A Secret's data added or removed whole names each key.
TEST(DiffDesiredLive, ASecretsLastAppliedAnnotationAndWholeDataAreNamedNotShown) {
  auto v1 = Load({{"secret.yaml", kSecret}});
  auto live = ApplyAll(PlanSync(v1, {}, {.revision = "r1"}));
  const std::string v2 =
      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\n  annotations:\n"
      "    kubectl.kubernetes.io/last-applied-configuration: '{\"stringData\":{\"password\":\"LEAK-1\"}}'\n"
      "data: {user: YWRh, key: TEVBSy0y}\n";
  Plan plan = PlanSync(Load({{"secret.yaml", v2}}), live, {.revision = "r2"});
  ASSERT_EQ(plan.updated, 1);
  Json shown = Json::array();
  for (const FieldChange& c : plan.changes[0].diff) shown.push_back(FieldChangeToJson(c));
  EXPECT_EQ(shown, Json::parse(R"([
    {"field":"metadata.annotations[kubectl.kubernetes.io/last-applied-configuration]","op":"added"},
    {"field":"data.key","op":"added"},
    {"field":"data.user","op":"added"},
    {"field":"stringData.password","op":"removed"}])"))
      << shown.dump();
  EXPECT_EQ(shown.dump().find("LEAK"), std::string::npos);
}

// Lists of named entries (env, containers, volumes) whose names moved are
// diffed by name, as kubectl diff reads them: removing the first env var is
// one removal, not every later one renamed. A reorder is still a change.
TEST(DiffDesiredLive, NamedListEntriesAreMatchedByName) {
  auto with_env = [](const std::string& env) {
    return Object(Json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[
      {"name":"main","image":"a:1","env":)" +
                              env + R"(}]}})"));
  };
  auto fields = [](const std::vector<FieldChange>& diff) {
    Json out = Json::array();
    for (const FieldChange& f : diff) out.push_back(FieldChangeToJson(f));
    return out;
  };
  const std::string abc = R"([{"name":"A","value":"1"},{"name":"B","value":"2"},{"name":"C","value":"3"}])";
  EXPECT_EQ(
      fields(DiffDesiredLive(with_env(R"([{"name":"B","value":"2"},{"name":"C","value":"3"}])"), with_env(abc))),
      Json::parse(R"([{"field":"spec.containers[0].env[name=A]","op":"removed","from":{"name":"A","value":"1"}}])"));
  EXPECT_EQ(
      fields(DiffDesiredLive(
          with_env(
              R"([{"name":"A","value":"1"},{"name":"X","value":"9"},{"name":"B","value":"2"},{"name":"C","value":"4"}])"),
          with_env(abc))),
      Json::parse(R"([{"field":"spec.containers[0].env[name=C].value","op":"changed","from":"3","to":"4"},
                      {"field":"spec.containers[0].env[name=X]","op":"added","to":{"name":"X","value":"9"}}])"));
  // The same names in the same order: by position, as before.
  EXPECT_EQ(
      fields(DiffDesiredLive(
          with_env(R"([{"name":"A","value":"1"},{"name":"B","value":"5"},{"name":"C","value":"3"}])"), with_env(abc))),
      Json::parse(R"([{"field":"spec.containers[0].env[1].value","op":"changed","from":"2","to":"5"}])"));
  // Reordered: a change (env order matters to $(VAR) references).
  EXPECT_FALSE(
      DiffDesiredLive(with_env(R"([{"name":"B","value":"2"},{"name":"A","value":"1"},{"name":"C","value":"3"}])"),
                      with_env(abc))
          .empty());
}

TEST(DiffDesiredLive, NumbersCompareByValue) {
  Object want(Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"x":{"n":3}})"));
  Object have(Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"x":{"n":3.0}})"));
  EXPECT_TRUE(DiffDesiredLive(want, have).empty());
}

TEST(ManageableKinds, ExcludesBosunsOwnRecords) {
  for (const KindInfo* k : ManageableKinds()) {
    EXPECT_NE(k->gvk.kind, "Revision");
    EXPECT_NE(k->gvk.kind, "GitRepository");
  }
  bool deployments = false;
  for (const KindInfo* k : ManageableKinds()) deployments |= k->gvk.kind == "Deployment";
  EXPECT_TRUE(deployments);
}

}  // namespace
}  // namespace bosun::reconciler
