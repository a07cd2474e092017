// The sync controller applying revisions: a real Git repository (git CLI), a
// real mirror, a real API server over a real store.
#include <gmock/gmock.h>

#include "reconciler/history.h"
#include "reconciler/plan.h"
#include "tests/reconciler/sync_test_support.h"

namespace bosun::reconciler::synctest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class SyncApplyTest : public SyncFixture {
 protected:
  std::string Shop() {
    return repo_.Commit({{"shop/ns.yaml", NamespaceYaml("shop")},
                         {"shop/svc.yaml", ServiceYaml("web", "shop")},
                         {"shop/deploy.yaml", DeploymentYaml("web", "shop", 2)},
                         {"shop/config.yaml", ConfigMapYaml("web-config", "shop", "blue")}},
                        "shop: first version");
  }
};

TEST_F(SyncApplyTest, FirstSyncCreatesEverythingInDependencyOrderAndRecordsIt) {
  std::string c1 = Shop();
  MakeController();
  EXPECT_EQ(Sync(SyncTrigger::kStartup), "00000001");

  for (auto [res, ns, name] :
       std::vector<std::tuple<const char*, std::string, std::string>>{{"namespaces", "", "shop"},
                                                                      {"configmaps", "shop", "web-config"},
                                                                      {"deployments", "shop", "web"},
                                                                      {"services", "shop", "web"}}) {
    auto o = Live(res, ns, name);
    ASSERT_TRUE(o) << res << " " << name;
    EXPECT_EQ(o->label(kManagedByLabel).value_or(""), "bosun");
    EXPECT_EQ(o->annotation(kRevisionAnnotation).value_or(""), c1);
    EXPECT_THAT(o->annotation(kSourcePathAnnotation).value_or(""), HasSubstr("shop/"));
  }

  Object rec = Record("00000001");
  EXPECT_EQ(rec.label(kCommitLabel).value_or(""), c1);
  EXPECT_EQ(rec.label(kSequenceLabel).value_or(""), "1");
  const Json& spec = rec.spec();
  EXPECT_EQ(spec["sequence"], 1);
  EXPECT_EQ(spec["commit"], c1);
  EXPECT_EQ(spec["trigger"], "startup");
  EXPECT_EQ(spec["author"]["name"], "Ada Author");
  EXPECT_EQ(spec["committer"]["email"], "cy@example.com");
  EXPECT_EQ(spec["message"], "shop: first version\n");
  EXPECT_EQ(spec["signature"]["signed"], false);
  EXPECT_EQ(spec["source"]["url"], repo_.dir());
  EXPECT_EQ(spec["parents"].size(), 0u);
  const Json& st = rec.status();
  EXPECT_EQ(st["phase"], "Applied");
  EXPECT_EQ(st["reason"], "Applied");
  EXPECT_EQ(st["changes"], Json({{"created", 4}, {"updated", 0}, {"deleted", 0}, {"unchanged", 0}}));
  std::vector<std::string> order;
  for (const auto& o : st["objects"]) {
    EXPECT_EQ(o["action"], "created");
    order.push_back(o["kind"].get<std::string>());
  }
  EXPECT_THAT(order, ElementsAre("Namespace", "ConfigMap", "Deployment", "Service"));
  std::vector<std::string> phases;
  for (const auto& p : st["phases"]) phases.push_back(p["name"].get<std::string>());
  EXPECT_THAT(phases, ElementsAre("Fetched", "Validated", "Applied"));
  EXPECT_TRUE(st.contains("appliedAt"));
  EXPECT_EQ(st["truncated"], false);

  Object repo = Repository();
  EXPECT_EQ(repo.spec()["url"], repo_.dir());
  EXPECT_EQ(repo.spec()["ref"], "main");
  EXPECT_EQ(repo.status()["head"], c1);
  EXPECT_EQ(repo.status()["liveRevision"], c1);
  EXPECT_EQ(repo.status()["liveRevisionName"], "00000001");
  EXPECT_EQ(repo.status()["lastSyncError"], "");
  EXPECT_EQ(repo.status()["lastFetchError"], "");

  // The same commit again: nothing to do, no second record.
  EXPECT_EQ(Sync(), "");
  EXPECT_EQ(Records().size(), 1u);
}

TEST_F(SyncApplyTest, AOneFileCommitUpdatesOneObjectWithAFieldDiff) {
  std::string c1 = Shop();
  MakeController();
  Sync();
  std::string c2 = repo_.Commit({{"shop/deploy.yaml", DeploymentYaml("web", "shop", 3)}}, "web: 3 replicas");
  EXPECT_EQ(Sync(), "00000002");

  Object rec = Record("00000002");
  const Json& st = rec.status();
  EXPECT_EQ(st["phase"], "Applied");
  EXPECT_EQ(st["changes"], Json({{"created", 0}, {"updated", 1}, {"deleted", 0}, {"unchanged", 3}}));
  ASSERT_EQ(st["objects"].size(), 1u);
  const Json& o = st["objects"][0];
  EXPECT_EQ(o["action"], "updated");
  EXPECT_EQ(o["kind"], "Deployment");
  EXPECT_EQ(o["namespace"], "shop");
  EXPECT_EQ(o["path"], "shop/deploy.yaml");
  ASSERT_EQ(o["diff"].size(), 1u) << o.dump();
  EXPECT_EQ(o["diff"][0], Json({{"field", "spec.replicas"}, {"op", "changed"}, {"from", 2}, {"to", 3}}));
  EXPECT_EQ(rec.spec()["parents"], Json::array({c1}));

  auto d = Live("deployments", "shop", "web");
  EXPECT_EQ(d->spec()["replicas"], 3);
  EXPECT_EQ(d->annotation(kRevisionAnnotation).value_or(""), c2);
  // The store revision the batch wrote it at, which revision health judges by.
  EXPECT_EQ(Repository().status()["liveResourceVersion"], d->resource_version());
  // Objects the commit left alone keep the commit that last changed them.
  EXPECT_EQ(Live("services", "shop", "web")->annotation(kRevisionAnnotation).value_or(""), c1);
  EXPECT_EQ(Repository().status()["liveRevisionName"], "00000002");
}

TEST_F(SyncApplyTest, AnObjectRemovedFromTheRepositoryIsPruned) {
  Shop();
  MakeController();
  Sync();
  repo_.Commit({{"shop/svc.yaml", std::nullopt}}, "drop the service");
  EXPECT_EQ(Sync(), "00000002");
  EXPECT_FALSE(Live("services", "shop", "web"));
  const Json st = Record("00000002").status();
  EXPECT_EQ(st["changes"]["deleted"], 1);
  ASSERT_EQ(st["objects"].size(), 1u);
  EXPECT_EQ(st["objects"][0]["action"], "deleted");
  EXPECT_EQ(st["objects"][0]["path"], "shop/svc.yaml");
}

TEST_F(SyncApplyTest, WithPruneOffInTheRepositorysSyncConfigNothingIsDeleted) {
  Shop();
  repo_.Commit({{"shop/sync.yaml", SyncConfigYaml("  prune: false\n")}}, "no pruning");
  MakeController();
  Sync();
  repo_.Commit({{"shop/svc.yaml", std::nullopt}}, "drop the service");
  EXPECT_EQ(Sync(), "00000002");
  EXPECT_TRUE(Live("services", "shop", "web"));
  const Json st = Record("00000002").status();
  EXPECT_EQ(st["changes"]["deleted"], 0);
  EXPECT_EQ(st["reason"], "NoChanges");
  EXPECT_EQ(Repository().status()["syncConfig"]["prune"], false);
  // The changelog says what stays although no commit describes it any more.
  EXPECT_EQ(st["changes"]["kept"], 1);
  ASSERT_EQ(st["kept"].size(), 1u) << st.dump();
  EXPECT_EQ(st["kept"][0]["kind"], "Service");
  EXPECT_EQ(st["kept"][0]["namespace"], "shop");
  EXPECT_EQ(st["kept"][0]["name"], "web");
  EXPECT_EQ(st["kept"][0]["path"], "shop/svc.yaml");
  EXPECT_EQ(st["kept"][0]["reason"], "pruneOff");
  // Put back in the repository, it is no longer kept but managed again.
  repo_.Commit({{"shop/svc.yaml", ServiceYaml("web", "shop")}}, "the service again");
  EXPECT_EQ(Sync(), "00000003");
  EXPECT_FALSE(Record("00000003").status().contains("kept"));
}

// bosun.dev/prune: "false" on one object (a volume's claim, data someone
// fills by hand) keeps it when its file leaves, with prune on; the record
// lists it as kept and why, and the rest of the commit is applied.
TEST_F(SyncApplyTest, AnObjectMarkedPruneFalseStaysWhenItsFileLeaves) {
  Shop();
  repo_.Commit({{"shop/data.yaml",
                 "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: data\n  namespace: shop\n"
                 "  annotations:\n    bosun.dev/prune: \"false\"\ndata: {k: v}\n"}},
               "data kept when it leaves");
  MakeController();
  EXPECT_EQ(Sync(), "00000001");
  repo_.Commit({{"shop/data.yaml", std::nullopt}, {"shop/svc.yaml", std::nullopt}}, "drop data and the service");
  EXPECT_EQ(Sync(), "00000002");
  EXPECT_TRUE(Live("configmaps", "shop", "data"));
  EXPECT_FALSE(Live("services", "shop", "web"));
  const Json st = Record("00000002").status();
  EXPECT_EQ(st["changes"]["deleted"], 1);
  EXPECT_EQ(st["changes"]["kept"], 1);
  ASSERT_EQ(st["kept"].size(), 1u) << st.dump();
  EXPECT_EQ(st["kept"][0]["name"], "data");
  EXPECT_EQ(st["kept"][0]["path"], "shop/data.yaml");
  EXPECT_EQ(st["kept"][0]["reason"], "pruneDisabled");
}

TEST_F(SyncApplyTest, ACommitThatChangesNoManifestIsRecordedAsNoChanges) {
  Shop();
  MakeController();
  Sync();
  std::string c2 = repo_.Commit({{"README.md", std::string("hello\n")}}, "docs only");
  EXPECT_EQ(Sync(), "00000002");
  const Json st = Record("00000002").status();
  EXPECT_EQ(st["phase"], "Applied");
  EXPECT_EQ(st["reason"], "NoChanges");
  EXPECT_EQ(st["changes"], Json({{"created", 0}, {"updated", 0}, {"deleted", 0}, {"unchanged", 4}}));
  EXPECT_EQ(Repository().status()["liveRevision"], c2);
}

TEST_F(SyncApplyTest, AnUnmanagedObjectOfADesiredNameIsAdopted) {
  // Made by hand: the Namespace (the API needs it for the ConfigMap) and a
  // ConfigMap of the name the repository defines.
  api_.CreateNamespaces({"shop"});
  Object cm(GroupVersionKind{"", "v1", "ConfigMap"}, "shop", "web-config");
  cm.json()["data"] = {{"key", "hand-made"}};
  ASSERT_TRUE(api_.client().Create(cm).ok());
  Shop();
  MakeController();
  Sync();
  auto live = Live("configmaps", "shop", "web-config");
  EXPECT_EQ(live->json()["data"]["key"], "blue");
  EXPECT_EQ(live->label(kManagedByLabel).value_or(""), "bosun");
  EXPECT_EQ(Live("namespaces", "", "shop")->label(kManagedByLabel).value_or(""), "bosun");
  const Json st = Record("00000001").status();
  EXPECT_EQ(st["changes"]["updated"], 2);
  EXPECT_EQ(st["changes"]["created"], 2);
}

TEST_F(SyncApplyTest, SecretValuesNeverReachTheRecord) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}, {"secret.yaml", SecretYaml("db", "shop", "hunter2-first")}});
  MakeController();
  Sync();
  repo_.Commit({{"secret.yaml", SecretYaml("db", "shop", "hunter2-second")}}, "rotate");
  EXPECT_EQ(Sync(), "00000002");
  Object rec = Record("00000002");
  const Json& o = rec.status()["objects"][0];
  EXPECT_EQ(o["kind"], "Secret");
  ASSERT_GE(o["diff"].size(), 1u);
  for (const auto& d : o["diff"]) {
    EXPECT_FALSE(d.contains("from")) << d.dump();
    EXPECT_FALSE(d.contains("to")) << d.dump();
  }
  for (const Object& r : Records()) {
    EXPECT_THAT(r.json().dump(), Not(HasSubstr("hunter2"))) << r.name();
  }
}

// An object in a namespace that neither the revision nor the cluster has is
// refused with the revision, at its file:line, and nothing is applied; once
// the namespace exists (made by hand here) the same commit is applied at the
// next pass.
// Every error in one refusal: an invalid manifest and an object into a
// namespace that does not exist are listed together, so one fix commit
// mends both.
TEST_F(SyncApplyTest, AnInvalidRevisionAlsoListsObjectsIntoAMissingNamespace) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}, {"web.yaml", ConfigMapYaml("web", "shop", "v1")}});
  MakeController();
  Sync();
  repo_.Commit({{"db.yaml", ConfigMapYaml("db", "data", "v1")},
                {"bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: shop\n"},
                {"odd.yaml", ConfigMapYaml("odd", "Bad_NS", "v1")}},
               "db, and bad names");
  EXPECT_EQ(Sync(), "00000002");
  Json st = Record("00000002").status();
  EXPECT_EQ(st["reason"], "InvalidManifests");
  EXPECT_THAT(st["message"].get<std::string>(),
              HasSubstr("2 invalid manifests (2 errors); and 1 object into a namespace that does not exist"))
      << st.dump();
  // An invalid namespace name is its manifest's error, not also a missing
  // namespace.
  ASSERT_EQ(st["errors"].size(), 3u) << st["errors"].dump();
  EXPECT_THAT(st["errors"].dump(), HasSubstr("bad.yaml:4:9: metadata.name: "));
  EXPECT_THAT(st["errors"].dump(), HasSubstr("odd.yaml:5:14: metadata.namespace: "));
  EXPECT_THAT(st["errors"].dump(), Not(HasSubstr("Bad_NS\\\" does not exist")));
  EXPECT_THAT(st["errors"].dump(),
              HasSubstr("db.yaml:5:14: metadata.namespace: namespace \\\"data\\\" does not exist"));
  EXPECT_EQ(Live("configmaps", "shop", "web")->json()["data"]["key"], "v1");
}

TEST_F(SyncApplyTest, ARevisionIntoANamespaceThatDoesNotExistIsRefusedUntilItDoes) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}, {"web.yaml", ConfigMapYaml("web", "shop", "v1")}});
  MakeController();
  Sync();
  const std::string c2 = repo_.Commit({{"db.yaml", ConfigMapYaml("db", "data", "v1")},
                                       {"cache.yaml", ConfigMapYaml("cache", "data", "v1")},
                                       {"web.yaml", ConfigMapYaml("web", "shop", "v2")}},
                                      "db: into namespace data");
  EXPECT_EQ(Sync(), "00000002");
  Json st = Record("00000002").status();
  EXPECT_EQ(st["phase"], "Refused");
  EXPECT_EQ(st["reason"], "MissingNamespace");
  EXPECT_THAT(st["message"].get<std::string>(),
              StartsWith("2 objects in namespace \"data\", which does not exist; nothing of it was applied"));
  EXPECT_EQ(st["missingNamespaces"], Json::array({"data"}));
  ASSERT_EQ(st["errors"].size(), 2u) << st["errors"].dump();
  EXPECT_THAT(st["errors"][0].get<std::string>(),
              StartsWith("cache.yaml:5:14: metadata.namespace: namespace \"data\" does not exist: add a Namespace "
                         "manifest named \"data\" to the repository"));
  EXPECT_THAT(st["errors"][1].get<std::string>(), StartsWith("db.yaml:5:14: metadata.namespace: "));
  EXPECT_EQ(Live("configmaps", "shop", "web")->json()["data"]["key"], "v1") << "the last good revision stays live";
  EXPECT_FALSE(Live("configmaps", "data", "db"));

  // Not tried again while the namespace is missing.
  EXPECT_EQ(Sync(), "");
  EXPECT_EQ(Records().size(), 2u);

  ASSERT_TRUE(api_.client().Create(Object(GroupVersionKind{"", "v1", "Namespace"}, "", "data")));
  EXPECT_EQ(Sync(), "00000003");
  st = Record("00000003").status();
  EXPECT_EQ(st["phase"], "Applied") << st.dump();
  EXPECT_EQ(Repository().status()["liveRevision"], c2);
  EXPECT_TRUE(Live("configmaps", "data", "db"));
  EXPECT_EQ(Live("configmaps", "shop", "web")->json()["data"]["key"], "v2");
}

// Pruning a Namespace marks it Terminating (its contents go with the
// namespace controller, not run here): the next revisions neither delete it
// again nor list it in their changes.
// Nothing new goes into a namespace being deleted: a revision that needs
// one is refused until it is gone, then (not in the repository) refused as
// missing, then applied once it is made again.
TEST_F(SyncApplyTest, ARevisionIntoANamespaceBeingDeletedWaitsUntilItIsGone) {
  repo_.Commit({{"keep.yaml", NamespaceYaml("keep")}});
  MakeController();
  Sync();
  const KindInfo& ns_kind = Kind("namespaces");
  ASSERT_TRUE(api_.client().Create(Object(ns_kind.gvk, "", "data")));
  auto terminating = api_.client().Delete(ns_kind, "", "data");  // no namespace controller runs here
  ASSERT_TRUE(terminating);
  repo_.Commit({{"db.yaml", ConfigMapYaml("db", "data", "v1")}}, "db");
  EXPECT_EQ(Sync(), "00000002");
  Json st = Record("00000002").status();
  EXPECT_EQ(st["reason"], "MissingNamespace");
  EXPECT_THAT(st["message"].get<std::string>(),
              StartsWith("1 object in namespace \"data\", which is being deleted; nothing of it was applied"));
  EXPECT_EQ(st["terminatingNamespaces"], Json::array({"data"}));
  EXPECT_THAT(st["errors"][0].get<std::string>(), HasSubstr("db.yaml:5:14: metadata.namespace: namespace \"data\" is "
                                                            "being deleted (Terminating)"));
  EXPECT_EQ(Sync(), "") << "not tried again while it terminates";

  Object released = *terminating;
  released.json()["spec"]["finalizers"] = Json::array();
  ASSERT_TRUE(api_.client().FinalizeNamespace(released));
  EXPECT_EQ(Sync(), "00000003");
  EXPECT_EQ(Record("00000003").status()["missingNamespaces"], Json::array({"data"}));
  ASSERT_TRUE(api_.client().Create(Object(ns_kind.gvk, "", "data")));
  EXPECT_EQ(Sync(), "00000004");
  EXPECT_EQ(Record("00000004").status()["phase"], "Applied");
  EXPECT_TRUE(Live("configmaps", "data", "db"));
}

TEST_F(SyncApplyTest, APrunedNamespaceIsDeletedOnceWhileItTerminates) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")},
                {"web.yaml", ConfigMapYaml("web", "shop", "v1")},
                {"keep.yaml", NamespaceYaml("keep")}});
  MakeController();
  Sync();
  repo_.Commit({{"ns.yaml", std::nullopt}, {"web.yaml", std::nullopt}}, "drop shop");
  EXPECT_EQ(Sync(), "00000002");
  Json st = Record("00000002").status();
  EXPECT_EQ(st["phase"], "Applied") << st.dump();
  EXPECT_EQ(st["changes"]["deleted"], 2);
  auto shop = Live("namespaces", "", "shop");
  ASSERT_TRUE(shop) << "Terminating until the namespace controller empties it";
  EXPECT_EQ(shop->json()["status"]["phase"], "Terminating");

  repo_.Commit({{"other.yaml", NamespaceYaml("other")}}, "add other");
  MakeController();  // a new leader: it plans every object, not only what changed
  EXPECT_EQ(Sync(), "00000003");
  st = Record("00000003").status();
  EXPECT_EQ(st["changes"], Json({{"created", 1}, {"updated", 0}, {"deleted", 0}, {"unchanged", 1}})) << st.dump();
  for (const Json& o : st["objects"]) EXPECT_NE(o["name"], "shop") << st.dump();
}

TEST_F(SyncApplyTest, TheFollowedPathLimitsWhatIsApplied) {
  repo_.Commit({{"deploy/ns.yaml", NamespaceYaml("shop")}, {"other/ns.yaml", NamespaceYaml("elsewhere")}});
  MakeController([](SyncOptions& o) { o.path = "deploy"; });
  Sync();
  EXPECT_TRUE(Live("namespaces", "", "shop"));
  EXPECT_FALSE(Live("namespaces", "", "elsewhere"));
  EXPECT_EQ(Record("00000001").spec()["source"]["path"], "deploy");
  EXPECT_EQ(Repository().spec()["path"], "deploy");
}

TEST_F(SyncApplyTest, AFollowedPathThatDisappearsIsRefusedInsteadOfPruningEverything) {
  repo_.Commit({{"deploy/ns.yaml", NamespaceYaml("shop")}});
  MakeController([](SyncOptions& o) { o.path = "deploy"; });
  Sync();
  repo_.Commit({{"deploy/ns.yaml", std::nullopt}, {"moved/ns.yaml", NamespaceYaml("shop")}}, "move it");
  EXPECT_EQ(Sync(), "00000002");
  const Json st = Record("00000002").status();
  EXPECT_EQ(st["phase"], "Refused");
  EXPECT_EQ(st["reason"], "PathNotFound");
  EXPECT_TRUE(Live("namespaces", "", "shop"));
}

// Emptying the followed folder would prune everything: refused, the live
// objects kept; a SyncConfig with allowEmpty says it is meant.
TEST_F(SyncApplyTest, ARevisionWithNoManifestsIsRefusedUnlessItsSyncConfigAllowsEmpty) {
  repo_.Commit({{"deploy/ns.yaml", NamespaceYaml("shop")}, {"deploy/web.yaml", ConfigMapYaml("web", "shop", "v1")}});
  MakeController([](SyncOptions& o) { o.path = "deploy"; });
  Sync();
  repo_.Commit({{"deploy/ns.yaml", std::nullopt}, {"deploy/web.yaml", std::nullopt}, {"deploy/README.md", "gone\n"}},
               "empty it");
  EXPECT_EQ(Sync(), "00000002");
  Json st = Record("00000002").status();
  EXPECT_EQ(st["phase"], "Refused") << st.dump();
  EXPECT_EQ(st["reason"], "NoManifests") << st.dump();
  EXPECT_THAT(st["message"].get<std::string>(), ::testing::HasSubstr("would delete all 2 objects")) << st.dump();
  EXPECT_TRUE(Live("namespaces", "", "shop"));
  EXPECT_TRUE(Live("configmaps", "shop", "web"));

  repo_.Commit(
      {{"deploy/sync.yaml",
        "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata:\n  name: default\nspec:\n  allowEmpty: true\n"}},
      "empty, and meant");
  EXPECT_EQ(Sync(), "00000003");
  st = Record("00000003").status();
  EXPECT_EQ(st["phase"], "Applied") << st.dump();
  EXPECT_FALSE(Live("configmaps", "shop", "web"));
}

}  // namespace
}  // namespace bosun::reconciler::synctest
