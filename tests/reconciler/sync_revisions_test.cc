// The sync controller's records across revisions: refused ones, skipped
// ones, an apply interrupted between its record and its batch, the history
// limit, and revert links.
#include <gmock/gmock.h>

#include "reconciler/history.h"
#include "reconciler/plan.h"
#include "tests/reconciler/sync_test_support.h"

namespace bosun::reconciler::synctest {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class SyncRevisionsTest : public SyncFixture {
 protected:
  std::vector<std::string> Phases() {
    std::vector<std::string> out;
    for (const Object& r : Records()) out.push_back(r.name() + ":" + r.json().value("/status/phase"_json_pointer, ""));
    return out;
  }

  // Sets a record's phase as revision health would (it does not run here).
  void Judge(const std::string& name, const std::string& phase, Json more = Json::object()) {
    Object rec = Record(name);
    Json& st = rec.json()["status"];
    st["phase"] = phase;
    for (auto it = more.begin(); it != more.end(); ++it) st[it.key()] = it.value();
    auto w = api_.client().UpdateStatus(rec);
    ASSERT_TRUE(w.ok()) << w.error().message();
  }
  // A commit synced and judged Healthy.
  std::string SyncHealthy() {
    std::string name = Sync();
    Judge(name, phase::kHealthy);
    return name;
  }
  // The reasons of every Event recorded.
  std::vector<std::string> EventReasons() {
    std::vector<std::string> out;
    auto events = api_.client().List(Kind("events"), "");
    EXPECT_TRUE(events.ok());
    if (events.ok()) {
      for (const Object& e : events->items) out.push_back(e.json().value("reason", ""));
    }
    return out;
  }
  std::vector<std::string> Names() {
    std::vector<std::string> names;
    for (const Object& r : Records()) names.push_back(r.name());
    return names;
  }
};

TEST_F(SyncRevisionsTest, AnInvalidRevisionIsRefusedWholeWithEveryErrorAndALaterFixApplies) {
  std::string c1 = repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}, {"web.yaml", DeploymentYaml("web", "shop", 1)}});
  MakeController();
  Sync();

  // One valid change (a new ConfigMap) and two broken files: nothing of it
  // may be applied.
  std::string bad = DeploymentYaml("web", "shop", 5);
  bad.replace(bad.find("        image: nginx:1.25\n"), std::string("        image: nginx:1.25\n").size(), "");
  std::string c2 = repo_.Commit({{"web.yaml", bad},
                                 {"cm.yaml", ConfigMapYaml("new", "shop", "x")},
                                 {"broken.yaml", std::string("apiVersion: v1\nkind: ConfigMap\nmetadata: [\n")}},
                                "break things");
  EXPECT_EQ(Sync(), "00000002");
  Object rec = Record("00000002");
  const Json& st = rec.status();
  EXPECT_EQ(st["phase"], "Refused");
  EXPECT_EQ(st["reason"], "InvalidManifests");
  ASSERT_EQ(st["errors"].size(), 2u) << st["errors"].dump();
  EXPECT_THAT(st["errors"][0].get<std::string>(), HasSubstr("broken.yaml:"));
  EXPECT_THAT(st["errors"][1].get<std::string>(),
              HasSubstr("web.yaml:17:9: spec.template.spec.containers[0].image: required"));
  EXPECT_FALSE(st.contains("objects") && !st["objects"].empty());
  EXPECT_THAT(st["message"].get<std::string>(), HasSubstr(c1.substr(0, 7) + " stays live"));

  EXPECT_FALSE(Live("configmaps", "shop", "new"));
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 1);
  Object repo = Repository();
  EXPECT_EQ(repo.status()["liveRevision"], c1);
  EXPECT_EQ(repo.status()["head"], c2);
  EXPECT_THAT(repo.status()["lastSyncError"].get<std::string>(),
              HasSubstr("revision " + c2.substr(0, 7) + " refused: 2 invalid manifests"));

  // Polling the same refused commit writes nothing more.
  EXPECT_EQ(Sync(), "");
  EXPECT_EQ(Records().size(), 2u);

  // The fix applies the whole of it.
  std::string c3 = repo_.Commit({{"web.yaml", DeploymentYaml("web", "shop", 5)}, {"broken.yaml", std::nullopt}}, "fix");
  EXPECT_EQ(Sync(), "00000003");
  EXPECT_EQ(Record("00000003").status()["phase"], "Applied");
  EXPECT_EQ(Record("00000003").status()["changes"]["created"], 1);
  EXPECT_EQ(Record("00000003").status()["changes"]["updated"], 1);
  EXPECT_TRUE(Live("configmaps", "shop", "new"));
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 5);
  EXPECT_EQ(Repository().status()["lastSyncError"], "");
  EXPECT_EQ(Repository().status()["liveRevision"], c3);
  // No revision health here: 1 was never judged (revision health would
  // judge it still, by what it wrote), and 3 went live over it.
  EXPECT_THAT(Phases(), ElementsAre("00000001:Applied", "00000002:Refused", "00000003:Applied"));
}

// `replica: 5` would otherwise be dropped and the Deployment left at one
// replica with the revision reported Applied.
TEST_F(SyncRevisionsTest, AMisspeltFieldRefusesTheRevisionUntilTheSyncConfigRelaxesIt) {
  std::string c1 = repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}, {"web.yaml", DeploymentYaml("web", "shop", 1)}});
  MakeController();
  Sync();
  EXPECT_EQ(Repository().status()["syncConfig"]["fieldValidation"], "Strict");

  std::string typo = DeploymentYaml("web", "shop", 5);
  typo.replace(typo.find("  replicas: 5"), std::string("  replicas: 5").size(), "  replica: 5");
  repo_.Commit({{"web.yaml", typo}}, "five replicas");
  EXPECT_EQ(Sync(), "00000002");
  const Json st = Record("00000002").status();
  EXPECT_EQ(st["phase"], "Refused");
  EXPECT_EQ(st["reason"], "InvalidManifests");
  EXPECT_THAT(Strings(st["errors"]),
              ElementsAre("web.yaml:7:12: spec.replica: unknown field \"replica\" (did you mean \"replicas\"?)"));
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 1);
  EXPECT_EQ(Repository().status()["liveRevision"], c1);

  // The repository may take unknown fields as warnings (only the new file is
  // read: web.yaml's finding is the one loaded with the last commit).
  std::string c3 = repo_.Commit({{"sync.yaml", SyncConfigYaml("  fieldValidation: Warn\n")}}, "warn only");
  EXPECT_EQ(Sync(), "00000003");
  const Json st3 = Record("00000003").status();
  EXPECT_EQ(st3["phase"], "Applied") << st3.dump();
  EXPECT_THAT(Strings(st3["warnings"]),
              ElementsAre("web.yaml:7:12: warning: spec.replica: unknown field \"replica\" (did you mean "
                          "\"replicas\"?)"));
  EXPECT_EQ(Repository().status()["liveRevision"], c3);
  EXPECT_EQ(Repository().status()["syncConfig"]["fieldValidation"], "Warn");
}

TEST_F(SyncRevisionsTest, AnObjectDefinedTwiceAcrossFilesIsRefusedEvenWhenOnlyOneFileChanged) {
  repo_.Commit({{"a.yaml", ConfigMapYaml("x", "default", "1")}});
  MakeController();
  Sync();
  repo_.Commit({{"b.yaml", ConfigMapYaml("x", "default", "2")}}, "duplicate");
  EXPECT_EQ(Sync(), "00000002");
  const Json st = Record("00000002").status();
  EXPECT_EQ(st["phase"], "Refused");
  ASSERT_EQ(st["errors"].size(), 1u);
  EXPECT_THAT(
      st["errors"][0].get<std::string>(),
      HasSubstr("b.yaml:4:9: metadata.name: duplicate object: ConfigMap default/x is also defined at a.yaml:4"));
}

// A commit that changes a Deployment's selector would orphan the old pods:
// the API refuses it (field is immutable), so the revision fails whole and
// the live one stays, as kubectl apply and Argo CD's sync fail there.
TEST_F(SyncRevisionsTest, ACommitChangingADeploymentsSelectorFailsAndNothingIsApplied) {
  std::string c1 = repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}, {"web.yaml", DeploymentYaml("web", "shop", 2)}});
  MakeController();
  Sync();
  std::string moved = DeploymentYaml("web", "shop", 2);
  for (size_t at = 0; (at = moved.find("app: web\n", at)) != std::string::npos; at += 9)
    moved.replace(at, 8, "app: web2");
  repo_.Commit({{"web.yaml", moved}, {"cm.yaml", ConfigMapYaml("new", "shop", "1")}}, "relabel web");
  EXPECT_EQ(Sync(), "00000002");
  const Json st = Record("00000002").status();
  EXPECT_EQ(st["phase"], "Failed") << st.dump();
  EXPECT_EQ(st["reason"], "ImmutableFieldChanged");
  EXPECT_THAT(st["message"].get<std::string>(), HasSubstr("Deployment shop/web: spec.selector: field is immutable"));
  // The way out is the force annotation; deleting the Deployment by hand is
  // none (self-heal puts the live revision's back), so it is not advised.
  EXPECT_THAT(st["message"].get<std::string>(), HasSubstr("annotate it bosun.dev/force: \"true\""));
  EXPECT_THAT(st["message"].get<std::string>(), Not(HasSubstr("delete the Deployment")));
  EXPECT_THAT(Strings(st["errors"]), ElementsAre(HasSubstr("web.yaml:9:5: spec.selector: field is immutable")));
  EXPECT_FALSE(Live("configmaps", "shop", "new"));  // all or nothing
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["selector"]["matchLabels"]["app"], "web");
  EXPECT_EQ(Repository().status()["liveRevision"], c1);

  // The SyncConfig lets the sync delete and create it again: a new object
  // (uid) with the new selector, in the same transaction as the rest.
  const std::string uid = Live("deployments", "shop", "web")->uid();
  std::string c3 = repo_.Commit({{"sync.yaml", SyncConfigYaml("  force: true\n")}}, "force");
  EXPECT_EQ(Sync(), "00000003");
  const Json st3 = Record("00000003").status();
  EXPECT_EQ(st3["phase"], "Applied") << st3.dump();
  EXPECT_EQ(st3["changes"]["replaced"], 1);
  EXPECT_THAT(st3["message"].get<std::string>(), HasSubstr("1 replaced"));
  Json replaced;
  for (const Json& o : st3["objects"]) {
    if (o["name"] == "web") replaced = o;
  }
  EXPECT_EQ(replaced["action"], "replaced") << st3["objects"].dump();
  EXPECT_EQ(replaced["immutable"], Json::array({"spec.selector"}));
  auto web = Live("deployments", "shop", "web");
  ASSERT_TRUE(web);
  EXPECT_NE(web->uid(), uid);
  EXPECT_EQ(web->spec()["selector"]["matchLabels"]["app"], "web2");
  EXPECT_EQ(web->annotation(kRevisionAnnotation), c3);
  EXPECT_TRUE(Live("configmaps", "shop", "new"));
  EXPECT_EQ(Repository().status()["liveRevision"], c3);
  EXPECT_EQ(Repository().status()["syncConfig"]["force"], true);
}

// A force-push that drops the live commit: applied like any head, and the
// changelog says which commit the branch no longer has; nothing in between
// is recorded as skipped (the histories are unrelated).
// A Job runs its template once: a commit that changes it would change
// nothing that runs, so it fails as Kubernetes refuses it, with the advice.
TEST_F(SyncRevisionsTest, ACommitChangingAJobsTemplateFailsWithTheWayOut) {
  auto job = [](const std::string& image) {
    return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  namespace: shop\nspec:\n  template:\n"
           "    spec:\n      restartPolicy: Never\n      containers:\n      - name: m\n        image: " +
           image + "\n";
  };
  std::string c1 = repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}, {"job.yaml", job("migrate:1")}});
  MakeController();
  Sync();
  repo_.Commit({{"job.yaml", job("migrate:2")}}, "migrate with v2");
  EXPECT_EQ(Sync(), "00000002");
  const Json st = Record("00000002").status();
  EXPECT_EQ(st["phase"], "Failed") << st.dump();
  EXPECT_EQ(st["reason"], "ImmutableFieldChanged");
  EXPECT_THAT(st["message"].get<std::string>(), HasSubstr("Job shop/migrate: spec.template: field is immutable"));
  EXPECT_THAT(st["message"].get<std::string>(), HasSubstr("give the Job a new name"));
  EXPECT_THAT(st["message"].get<std::string>(),
              HasSubstr("annotate it bosun.dev/force: \"true\", or set spec.force: true in the SyncConfig"));
  EXPECT_THAT(Strings(st["errors"]), ElementsAre(HasSubstr("job.yaml:8:5: spec.template: field is immutable")));
  EXPECT_EQ(Repository().status()["liveRevision"], c1);
  EXPECT_THAT(Repository().status()["lastSyncError"].get<std::string>(), HasSubstr("bosun.dev/force"));

  // The annotation lets the sync run the new template: the Job is deleted
  // and created again (a new uid, so its controller runs it), and the
  // changelog says why it was replaced, not updated.
  const std::string uid = Live("jobs", "shop", "migrate")->uid();
  std::string forced = job("migrate:2");
  forced.replace(forced.find("  namespace: shop\n"), 17,
                 "  namespace: shop\n  annotations:\n    bosun.dev/force: \"true\"\n");
  std::string c3 = repo_.Commit({{"job.yaml", forced}}, "migrate with v2, forced");
  EXPECT_EQ(Sync(), "00000003");
  const Json st3 = Record("00000003").status();
  EXPECT_EQ(st3["phase"], "Applied") << st3.dump();
  ASSERT_EQ(st3["objects"].size(), 1u);
  EXPECT_EQ(st3["objects"][0]["action"], "replaced");
  EXPECT_EQ(st3["objects"][0]["immutable"], Json::array({"spec.template"}));
  EXPECT_THAT(st3["objects"][0]["diff"].dump(), HasSubstr("migrate:2"));
  auto now = Live("jobs", "shop", "migrate");
  ASSERT_TRUE(now);
  EXPECT_NE(now->uid(), uid);
  EXPECT_EQ(now->spec()["template"]["spec"]["containers"][0]["image"], "migrate:2");
  EXPECT_EQ(Repository().status()["liveRevision"], c3);

  // The annotation set to "false" keeps one object from the SyncConfig's force.
  std::string kept = job("migrate:3");
  kept.replace(kept.find("  namespace: shop\n"), 17,
               "  namespace: shop\n  annotations:\n    bosun.dev/force: \"false\"\n");
  repo_.Commit({{"job.yaml", kept}, {"sync.yaml", SyncConfigYaml("  force: true\n")}}, "v3 without force");
  EXPECT_EQ(Sync(), "00000004");
  EXPECT_EQ(Record("00000004").status()["reason"], "ImmutableFieldChanged");
  EXPECT_EQ(Live("jobs", "shop", "migrate")->uid(), now->uid());
}

// The commit that set bosun.dev/force and changed the Job's template fails
// (its new Job fails) and is reverted, as bosun does automatically: the
// revert takes the annotation away and changes the template back, so it
// must replace the Job again, or the failing revision would stay live.
TEST_F(SyncRevisionsTest, ARevertOfAForcedReplaceReplacesItBack) {
  auto job = [](const std::string& image, bool force) {
    return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  namespace: shop\n" +
           std::string(force ? "  annotations:\n    bosun.dev/force: \"true\"\n" : "") +
           "spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: m\n"
           "        image: " +
           image + "\n";
  };
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}, {"job.yaml", job("migrate:1", false)}});
  MakeController();
  Sync();
  const std::string v1 = Live("jobs", "shop", "migrate")->uid();
  repo_.Commit({{"job.yaml", job("migrate:2", true)}}, "migrate with v2, forced");
  EXPECT_EQ(Sync(), "00000002");
  EXPECT_EQ(Record("00000002").status()["phase"], "Applied");
  const std::string v2 = Live("jobs", "shop", "migrate")->uid();
  EXPECT_NE(v2, v1);

  repo_.Git("revert --no-edit HEAD");
  EXPECT_EQ(Sync(), "00000003");
  const Json st = Record("00000003").status();
  EXPECT_EQ(st["phase"], "Applied") << st.dump();
  ASSERT_EQ(st["objects"].size(), 1u);
  EXPECT_EQ(st["objects"][0]["action"], "replaced");
  auto now = Live("jobs", "shop", "migrate");
  ASSERT_TRUE(now);
  EXPECT_NE(now->uid(), v2);
  EXPECT_EQ(now->spec()["template"]["spec"]["containers"][0]["image"], "migrate:1");
  EXPECT_FALSE(now->annotation(kForceAnnotation));
}

// The auditor's view of a force-push: the new record names the live commit
// the branch dropped, and each record of a commit no longer on the branch
// says which revision took it away (status.droppedBy), with one Event.
TEST_F(SyncRevisionsTest, AForcePushOverTheLiveCommitIsRecordedAsARewrite) {
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "1")}});
  MakeController([](SyncOptions& o) { o.record_events = true; });
  Sync();
  std::string first_dropped = repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "2")}}, "two");
  EXPECT_EQ(Sync(), "00000002");
  EXPECT_FALSE(Record("00000002").spec().contains("rewrites"));  // a fast-forward
  std::string dropped = repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "2b")}}, "two b");
  EXPECT_EQ(Sync(), "00000003");
  repo_.Git("reset -q --hard HEAD~2");
  const std::string head = repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "3")}}, "three, over two");
  EXPECT_EQ(Sync(), "00000004");
  EXPECT_EQ(Record("00000004").spec()["rewrites"], dropped);
  EXPECT_EQ(Record("00000004").status()["phase"], "Applied");
  EXPECT_EQ(Records().size(), 4u);
  EXPECT_EQ(Live("configmaps", "default", "cm")->json()["data"]["key"], "3");
  for (const char* name : {"00000002", "00000003"}) {
    const Json st = Record(name).status();
    ASSERT_TRUE(st.contains("droppedBy")) << name << ": " << st.dump();
    EXPECT_EQ(st["droppedBy"]["revision"], "00000004");
    EXPECT_EQ(st["droppedBy"]["commit"], head);
  }
  EXPECT_FALSE(Record("00000001").status().contains("droppedBy"));  // still on the branch
  EXPECT_FALSE(Record("00000004").status().contains("droppedBy"));
  EXPECT_TRUE(Eventually([&] {
    auto l = api_.client().List(Kind("events"), "");
    if (!l) return false;
    for (const Object& e : l->items) {
      if (e.json().value("reason", "") == "ForcePushed" &&
          e.json().value("message", "") == "the branch was force-pushed to " + head.substr(0, 7) + ": revisions 3 (" +
                                               dropped.substr(0, 7) + "), 2 (" + first_dropped.substr(0, 7) +
                                               ") are no longer on it") {
        return true;
      }
    }
    return false;
  }));
}

// A server restarted with another --path: the head is read again from the
// new folder as a new revision (with what it was read from before), even
// when it is the live commit or was refused under the old folder; what the
// old folder made is pruned, and none of it is drift.
TEST_F(SyncRevisionsTest, ANewPathIsANewRevisionOfTheSameCommit) {
  const std::string head = repo_.Commit({{"deploy/cm.yaml", ConfigMapYaml("a", "default", "1")},
                                         {"other/cm.yaml", ConfigMapYaml("b", "default", "1")},
                                         {"docs/README.md", "how we deploy\n"}});
  MakeController([](SyncOptions& o) {
    o.path = "deplyo";  // a typo
    o.record_events = true;
  });
  ASSERT_EQ(Sync(), "00000001");
  ASSERT_EQ(Record("00000001").status()["phase"], "Refused");
  MakeController([](SyncOptions& o) {
    o.path = "deploy/";
    o.record_events = true;
  });
  ASSERT_EQ(Sync(), "00000002");  // not "already refused": that was another folder
  EXPECT_EQ(Record("00000002").status()["phase"], "Applied");
  EXPECT_FALSE(Record("00000002").spec().contains("sourceChangedFrom"));  // nothing was live
  EXPECT_TRUE(Live("configmaps", "default", "a"));
  EXPECT_EQ(Sync(), "");  // the same folder written another way: already live

  MakeController([](SyncOptions& o) {
    o.path = "other";
    o.record_events = true;
  });
  ASSERT_EQ(Sync(), "00000003");
  const Object rec = Record("00000003");
  EXPECT_EQ(rec.spec()["commit"], head);
  EXPECT_EQ(rec.spec()["source"]["path"], "other");
  EXPECT_EQ(rec.spec()["sourceChangedFrom"]["path"], "deploy/");
  EXPECT_FALSE(rec.spec().contains("rewrites"));
  EXPECT_EQ(rec.status()["phase"], "Applied");
  EXPECT_FALSE(Live("configmaps", "default", "a"));  // pruned: it left what is followed
  EXPECT_TRUE(Live("configmaps", "default", "b"));
  EXPECT_EQ(Sync(), "");
  EXPECT_EQ(Records().size(), 3u);
  EXPECT_FALSE(Record("00000002").status().contains("droppedBy"));
  EXPECT_THAT(EventReasons(), Not(Contains("DriftHealed")));
  EXPECT_THAT(EventReasons(), Not(Contains("ForcePushed")));

  // A folder with no manifests would prune everything: refused (NoManifests)
  // though the live revision's own folder is not read any more.
  MakeController([](SyncOptions& o) { o.path = "docs"; });
  ASSERT_EQ(Sync(), "00000004");
  EXPECT_EQ(Record("00000004").status()["reason"], "NoManifests");
  EXPECT_TRUE(Live("configmaps", "default", "b"));
}

// Another --ref (a tag, a pinned commit): a live commit the new ref lacks was
// not dropped by a force-push, and a later revert does not go back across it.
TEST_F(SyncRevisionsTest, ANewRefIsNotAForcePush) {
  const std::string v1 = repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "1")}}, "one");
  repo_.Git("tag v1");
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "2")}}, "two");
  MakeController([](SyncOptions& o) { o.record_events = true; });
  ASSERT_EQ(Sync(), "00000001");
  ctl_.reset();
  mirror_.reset();  // a restart with --ref refs/tags/v1, on the same mirror
  ref_ = "refs/tags/v1";
  MakeController([](SyncOptions& o) { o.record_events = true; });
  ASSERT_EQ(Sync(), "00000002");
  const Object rec = Record("00000002");
  EXPECT_EQ(rec.spec()["commit"], v1);
  EXPECT_EQ(rec.spec()["sourceChangedFrom"]["ref"], "main");
  EXPECT_EQ(rec.spec()["source"]["ref"], "refs/tags/v1");
  EXPECT_FALSE(rec.spec().contains("rewrites"));
  EXPECT_FALSE(Record("00000001").status().contains("droppedBy"));
  EXPECT_EQ(Live("configmaps", "default", "cm")->json()["data"]["key"], "1");
  EXPECT_THAT(EventReasons(), Not(Contains("ForcePushed")));
}

// The commonest force-push: a refused commit amended. The live commit is
// still on the branch (no rewrite of it), but the refused one is not, and
// its record says so.
TEST_F(SyncRevisionsTest, AnAmendedRefusedCommitIsMarkedDropped) {
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "1")}});
  MakeController();
  ASSERT_EQ(Sync(), "00000001");
  repo_.Commit({{"bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"}}, "bad");
  ASSERT_EQ(Sync(), "00000002");
  ASSERT_EQ(Record("00000002").status()["phase"], "Refused");
  repo_.Git("reset -q --hard HEAD~1");
  const std::string amended = repo_.Commit({{"good.yaml", ConfigMapYaml("good", "default", "1")}}, "good, amended");
  ASSERT_EQ(Sync(), "00000003");
  EXPECT_FALSE(Record("00000003").spec().contains("rewrites"));  // the live commit is still on the branch
  const Json st = Record("00000002").status();
  ASSERT_TRUE(st.contains("droppedBy")) << st.dump();
  EXPECT_EQ(st["droppedBy"]["revision"], "00000003");
  EXPECT_EQ(st["droppedBy"]["commit"], amended);
  EXPECT_FALSE(Record("00000001").status().contains("droppedBy"));
}

TEST_F(SyncRevisionsTest, ASecondSyncConfigIsRefused) {
  repo_.Commit({{"sync.yaml",
                 "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\n"
                 "spec: {prune: true}\n"}});
  MakeController();
  Sync();
  repo_.Commit({{"z.yaml",
                 "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: other}\n"
                 "spec: {prune: false}\n"}},
               "a second SyncConfig");
  EXPECT_EQ(Sync(), "00000002");
  const Json st = Record("00000002").status();
  EXPECT_EQ(st["phase"], "Refused");
  ASSERT_EQ(st["errors"].size(), 1u);
  EXPECT_THAT(st["errors"][0].get<std::string>(),
              HasSubstr("z.yaml:3:18: metadata.name: a second SyncConfig (other): the repository's settings are "
                        "in SyncConfig default at sync.yaml:3"));
}

TEST_F(SyncRevisionsTest, IntermediateFirstParentCommitsAreRecordedAsSkipped) {
  std::string c1 = repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}});
  MakeController();
  Sync();
  std::string c2 = repo_.Commit({{"a.yaml", ConfigMapYaml("a", "shop", "1")}}, "two");
  std::string c3 = repo_.Commit({{"b.yaml", ConfigMapYaml("b", "shop", "1")}}, "three");
  std::string c4 = repo_.Commit({{"c.yaml", ConfigMapYaml("c", "shop", "1")}}, "four");
  EXPECT_EQ(Sync(SyncTrigger::kWebhook), "00000004");
  EXPECT_THAT(Phases(), ElementsAre("00000001:Applied", "00000002:Skipped", "00000003:Skipped", "00000004:Applied"));
  Object s2 = Record("00000002");
  EXPECT_EQ(s2.spec()["commit"], c2);
  EXPECT_EQ(s2.status()["reason"], "Superseded");
  EXPECT_THAT(s2.status()["message"].get<std::string>(), HasSubstr(c4.substr(0, 7)));
  EXPECT_EQ(Record("00000003").spec()["commit"], c3);
  EXPECT_EQ(Record("00000004").spec()["trigger"], "webhook");
  EXPECT_EQ(Record("00000004").status()["changes"]["created"], 3);
  // The applied record says what it went over, and that it brings three
  // commits' changes (the auditor's git log c1..c4); the skipped ones do not.
  EXPECT_EQ(Record("00000004").spec()["liveBefore"], c1);
  EXPECT_EQ(Record("00000004").spec()["commitsSinceLive"], 3);
  // Which commits, whose, newest first (its own aside).
  const Json brings = Record("00000004").spec()["brings"];
  ASSERT_EQ(brings.size(), 2u) << brings.dump();
  EXPECT_EQ(brings[0]["commit"], c3);
  EXPECT_EQ(brings[0]["subject"], "three");
  EXPECT_EQ(brings[0]["author"]["name"], "Ada Author");
  EXPECT_EQ(brings[1]["commit"], c2);
  EXPECT_FALSE(s2.spec().contains("liveBefore")) << s2.spec().dump();
  EXPECT_FALSE(Record("00000001").spec().contains("liveBefore"));  // nothing was live
  // Their changes are live: each skipped record says in which revision.
  for (const char* name : {"00000002", "00000003"}) {
    const Json st = Record(name).status();
    EXPECT_EQ(st["phase"], "Skipped");
    EXPECT_EQ(st["appliedWith"], Json({{"revision", "00000004"}, {"commit", c4}})) << name;
    EXPECT_EQ(st["message"], "applied with the commits after it by revision 4 (" + c4.substr(0, 7) + ")");
  }
}

// A skipped commit under a refused head is not live: it says so only once a
// later head that brings it is applied.
TEST_F(SyncRevisionsTest, ASkippedCommitUnderARefusedHeadIsNotNotedApplied) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}});
  MakeController();
  Sync();
  repo_.Commit({{"a.yaml", ConfigMapYaml("a", "shop", "1")}}, "two");
  repo_.Commit({{"bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"}}, "bad");
  EXPECT_EQ(Sync(), "00000003");
  EXPECT_THAT(Phases(), ElementsAre("00000001:Applied", "00000002:Skipped", "00000003:Refused"));
  EXPECT_FALSE(Record("00000002").status().contains("appliedWith"));
  const std::string fix = repo_.Commit({{"bad.yaml", std::nullopt}}, "fix");
  EXPECT_EQ(Sync(), "00000004");
  EXPECT_EQ(Record("00000002").status()["appliedWith"]["commit"], fix);
  EXPECT_FALSE(Record("00000003").status().contains("appliedWith"));  // refused, not skipped
}

TEST_F(SyncRevisionsTest, SkippedRecordsAreCappedWithOneMessageSayingHowManyMore) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}});
  MakeController();
  Sync();
  for (int i = 0; i < 54; ++i) repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "shop", std::to_string(i))}});
  std::string head = repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "shop", "last")}}, "last");
  std::string name = Sync();
  EXPECT_EQ(name, "00000052");
  auto records = Records();
  ASSERT_EQ(records.size(), 52u);
  int skipped = 0;
  for (const Object& r : records) skipped += r.status()["phase"] == "Skipped" ? 1 : 0;
  EXPECT_EQ(skipped, 50);
  EXPECT_THAT(Record("00000002").status()["message"].get<std::string>(),
              HasSubstr("4 older first-parent commits since"));
  EXPECT_EQ(Record("00000052").spec()["commit"], head);
}

// A long push whose head is refused, then a fix on top: the fix's pass
// does not record 50 more of the same range (the history grew by 50 at
// each pushed fix while the range stayed open).
TEST_F(SyncRevisionsTest, AFixOnTopOfARefusedLongPushRecordsNoMoreOfIt) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}});
  MakeController();
  Sync();
  for (int i = 0; i < 120; ++i) repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "shop", std::to_string(i))}});
  repo_.Commit({{"bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"}}, "broken");
  Sync();
  const size_t before = Records().size();
  EXPECT_EQ(before, 52u);  // the first, 50 skipped, the refused head
  repo_.Commit({{"bad.yaml", std::nullopt}}, "fix");
  Sync();
  EXPECT_EQ(Records().size(), before + 1);
  EXPECT_EQ(Live("configmaps", "shop", "cm")->json()["data"]["key"], "119");
}

TEST_F(SyncRevisionsTest, AnApplyInterruptedAfterItsRecordIsResumedOnceByTheNextController) {
  std::string c1 = repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}, {"cm.yaml", ConfigMapYaml("a", "shop", "1")}});
  // The first controller "crashes" between the record and the batch.
  MakeController([](SyncOptions& o) {
    o.before_apply = [](const std::string&) { return Status(Error(Code::kUnavailable, "simulated crash")); };
  });
  auto r = ctl_->SyncOnce(SyncTrigger::kStartup);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Phases(), ElementsAre("00000001:Validated"));
  EXPECT_FALSE(Live("namespaces", "", "shop"));
  ctl_.reset();

  // A new controller (a restart, or the next leader) finishes that record.
  MakeController();
  EXPECT_EQ(Sync(SyncTrigger::kStartup), "00000001");
  EXPECT_THAT(Phases(), ElementsAre("00000001:Applied"));
  EXPECT_TRUE(Live("namespaces", "", "shop"));
  EXPECT_EQ(Record("00000001").spec()["commit"], c1);
  EXPECT_EQ(Record("00000001").status()["changes"]["created"], 2);
  std::vector<std::string> phases;
  Object done = Record("00000001");
  for (const auto& p : done.status()["phases"]) phases.push_back(p["name"].get<std::string>());
  EXPECT_THAT(phases, ElementsAre("Fetched", "Validated", "Applied"));
  EXPECT_EQ(Sync(), "");
  EXPECT_EQ(Records().size(), 1u);
}

// A pass that stopped after its batch (the revision applied, its record
// written with it) and before the GitRepository's status: the next pass
// finds it live, and the status then says so, with this pass's time as the
// last sync (it said the revision before's).
TEST_F(SyncRevisionsTest, ARevisionAppliedBeforeItsStatusWasWrittenIsNotedWithANewSyncTime) {
  std::string c1 = repo_.Commit({{"cm.yaml", ConfigMapYaml("a", "default", "1")}});
  MakeController();
  ASSERT_EQ(Sync(), "00000001");
  const Object before = Repository();
  std::string c2 = repo_.Commit({{"cm.yaml", ConfigMapYaml("a", "default", "2")}}, "two");
  ASSERT_EQ(Sync(), "00000002");
  ctl_.reset();
  // The status as the interrupted pass left it: revision 1's.
  Object repo = Repository();
  repo.json()["status"] = before.status();
  repo.json()["status"]["lastSyncTime"] = "2026-01-01T00:00:00Z";
  ASSERT_TRUE(api_.client().UpdateStatus(repo));

  MakeController();
  EXPECT_EQ(Sync(), "");
  const Json st = Repository().status();
  EXPECT_EQ(st["liveRevision"], c2);
  EXPECT_EQ(st["liveRevisionName"], "00000002");
  EXPECT_NE(st.value("lastSyncTime", ""), "2026-01-01T00:00:00Z");
  EXPECT_FALSE(st.contains("liveResourceVersion")) << "only the pass that applied it knows it";
  EXPECT_EQ(Records().size(), 2u);
}

TEST_F(SyncRevisionsTest, ARecordLeftInValidatedForAnOlderCommitIsSkipped) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}});
  MakeController([](SyncOptions& o) {
    o.before_apply = [](const std::string&) { return Status(Error(Code::kUnavailable, "simulated crash")); };
  });
  ASSERT_FALSE(ctl_->SyncOnce(SyncTrigger::kStartup).ok());
  ctl_.reset();
  std::string c2 = repo_.Commit({{"cm.yaml", ConfigMapYaml("a", "shop", "1")}}, "more");
  MakeController();
  EXPECT_EQ(Sync(), "00000002");
  EXPECT_THAT(Phases(), ElementsAre("00000001:Skipped", "00000002:Applied"));
  EXPECT_EQ(Record("00000001").status()["reason"], "Superseded");
  EXPECT_TRUE(Live("configmaps", "shop", "a"));
}

TEST_F(SyncRevisionsTest, TheHistoryLimitRemovesTheOldestRecords) {
  MakeController([](SyncOptions& o) { o.history_limit = 3; });
  for (int i = 1; i <= 5; ++i) {
    repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", std::to_string(i))}});
    EXPECT_EQ(SyncHealthy(), RevisionName(i));
  }
  EXPECT_THAT(Names(), ElementsAre("00000003", "00000004", "00000005"));
}

// The index keeps the phase a record was written with; revision health moves
// it on later. A record still rolling out, or failed and left to a person,
// is not removed by the limit until it is settled.
TEST_F(SyncRevisionsTest, TheHistoryLimitHoldsRecordsStillRollingOutOrLeftToAPerson) {
  MakeController([](SyncOptions& o) { o.history_limit = 2; });
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "1")}});
  ASSERT_EQ(Sync(), "00000001");
  Judge("00000001", phase::kProgressing);
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "2")}});
  ASSERT_EQ(Sync(), "00000002");
  Judge("00000002", phase::kDegraded,
        {{"revert", {{"needsHuman", true}, {"automatic", false}, {"error", "revision 3 is live since"}}}});
  for (int i = 3; i <= 5; ++i) {
    repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", std::to_string(i))}});
    EXPECT_EQ(SyncHealthy(), RevisionName(i));
  }
  // 1 (Progressing) and 2 (Degraded, not reverted) are held; 3 went.
  EXPECT_THAT(Names(), ElementsAre("00000001", "00000002", "00000004", "00000005"));

  // Once judged, and once reverted by hand, they go at the next sync.
  Judge("00000001", phase::kHealthy);
  Judge("00000002", phase::kReverted, {{"revertedBy", "0123456789abcdef0123456789abcdef01234567"}});
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "6")}});
  EXPECT_EQ(SyncHealthy(), "00000006");
  EXPECT_THAT(Names(), ElementsAre("00000005", "00000006"));
}

TEST_F(SyncRevisionsTest, TheRepositorysRevisionHistoryLimitWins) {
  MakeController([](SyncOptions& o) { o.history_limit = 10; });
  repo_.Commit({{"sync.yaml", SyncConfigYaml("  revisionHistoryLimit: 2\n")}});
  SyncHealthy();
  for (int i = 2; i <= 4; ++i) {
    repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", std::to_string(i))}});
    SyncHealthy();
  }
  EXPECT_EQ(Records().size(), 2u);
}

TEST_F(SyncRevisionsTest, TheHistoryByteLimitRemovesTheOldestRecords) {
  MakeController([](SyncOptions& o) { o.history_max_bytes = 6000; });
  for (int i = 1; i <= 6; ++i) {
    repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", std::to_string(i))}});
    SyncHealthy();
  }
  auto records = Records();
  size_t bytes = 0;
  for (const Object& r : records) bytes += r.json().dump().size();
  EXPECT_LT(records.size(), 6u);
  EXPECT_GE(records.size(), 1u);
  EXPECT_EQ(records.back().name(), "00000006");
  EXPECT_LE(bytes, 6000u + 2000u);  // resourceVersion/managed fields differ a little
}

TEST_F(SyncRevisionsTest, ARevertCommitLinksBothRecords) {
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "good")}});
  MakeController();
  Sync();
  std::string bad = repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "bad")}}, "make it bad");
  Sync();
  repo_.Git("revert --no-edit HEAD");
  std::string revert = repo_.Head();
  EXPECT_EQ(Sync(), "00000003");
  Object r3 = Record("00000003");
  EXPECT_EQ(r3.spec()["reverts"], bad);
  Object r2 = Record("00000002");
  EXPECT_EQ(r2.status()["revertedBy"], revert);
  EXPECT_EQ(r2.status()["phase"], "Reverted");
  // Reverted before any verdict: its reason says so (not the "Applied" it had).
  EXPECT_EQ(r2.status()["reason"], "Reverted");
  EXPECT_EQ(r2.status()["message"], "reverted by " + revert.substr(0, 7) + " before its rollout was judged");
  EXPECT_EQ(Live("configmaps", "default", "cm")->json()["data"]["key"], "good");

  // One reverted after its verdict says that instead.
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "fine")}}, "make it fine");
  EXPECT_EQ(Sync(), "00000004");
  Object r4 = Record("00000004");
  r4.json()["status"]["phase"] = "Healthy";
  r4.json()["status"]["reason"] = "RolledOut";
  ASSERT_TRUE(api_.client().UpdateStatus(r4));
  repo_.Git("revert --no-edit HEAD");
  EXPECT_EQ(Sync(), "00000005");
  EXPECT_EQ(Record("00000004").status()["reason"], "Reverted");
  EXPECT_EQ(Record("00000004").status()["message"],
            "reverted by " + repo_.Head().substr(0, 7) + " after it was rolled out and healthy");

  // One that was Degraded, then superseded, keeps the reason it failed for.
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "broken")}}, "break it");
  EXPECT_EQ(Sync(), "00000006");
  Object r6 = Record("00000006");
  r6.json()["status"]["phase"] = "Superseded";
  r6.json()["status"]["reason"] = "Superseded";
  r6.json()["status"]["degraded"] = {{"reason", "ProgressDeadlineExceeded"},
                                     {"message", "progress deadline exceeded for deployment default/web"}};
  ASSERT_TRUE(api_.client().UpdateStatus(r6));
  repo_.Git("revert --no-edit HEAD");
  EXPECT_EQ(Sync(), "00000007");
  EXPECT_EQ(Record("00000006").status()["phase"], "Reverted");
  EXPECT_EQ(Record("00000006").status()["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ(Record("00000006").status()["message"],
            "reverted by " + repo_.Head().substr(0, 7) +
                " after it was degraded: progress deadline exceeded for deployment default/web");
}

// A revision still Applied or Progressing when a newer one goes live keeps
// its phase: revision health goes on judging it by what it wrote
// (reconciler/revision_health.h); a verdict it had is kept too.
TEST_F(SyncRevisionsTest, ARevisionStillRollingOutWhenTheNextWentLiveIsLeftToRevisionHealth) {
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "1")}});
  MakeController();
  Sync();
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "2")}}, "two");
  Object r1 = Record("00000001");
  r1.json()["status"]["phase"] = "Progressing";
  r1.json()["status"]["reason"] = "RollingOut";
  ASSERT_TRUE(api_.client().UpdateStatus(r1));
  EXPECT_EQ(Sync(), "00000002");
  r1 = Record("00000001");
  EXPECT_EQ(r1.status()["phase"], "Progressing");
  EXPECT_EQ(r1.status()["reason"], "RollingOut");

  Object r2 = Record("00000002");
  r2.json()["status"]["phase"] = "Healthy";
  r2.json()["status"]["reason"] = "RolledOut";
  ASSERT_TRUE(api_.client().UpdateStatus(r2));
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "3")}}, "three");
  EXPECT_EQ(Sync(), "00000003");
  EXPECT_EQ(Record("00000002").status()["phase"], "Healthy");
  EXPECT_EQ(Live("configmaps", "default", "cm")->json()["data"]["key"], "3");
}

TEST_F(SyncRevisionsTest, ABosunRevertsTrailerIsTheLink) {
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "good")}});
  MakeController();
  Sync();
  std::string bad = repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "bad")}}, "bad");
  Sync();
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "good")}},
               "Revert \"bad\"\n\nBosun-Reverts: " + bad + "\nBosun-Reason: Degraded\n");
  Sync();
  EXPECT_EQ(Record("00000003").spec()["reverts"], bad);
  // bosun's own revert is recorded as one, though a poll (or a new leader's
  // first pass: the one that pushed it died) applied it; a person's `git
  // revert` is not.
  EXPECT_EQ(Record("00000003").spec()["trigger"], "revert");
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "bad")}},
               "Revert \"Revert bad\"\n\nThis reverts commit " + repo_.Head() + ".\n");
  Sync();
  EXPECT_EQ(Record("00000004").spec()["trigger"], "poll");
}

// A revert back to the last healthy commit (a Bosun-Reverts-To trailer, as
// bosun's automatic revert of several commits writes it): its record names
// both ends, and every applied record after the one it goes back to is
// Reverted by it; the healthy one, and a skipped one, keep their phases.
TEST_F(SyncRevisionsTest, ARevertBackToAnEarlierCommitLinksEveryRecordItUndoes) {
  const std::string good = repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "good")}});
  MakeController();
  EXPECT_EQ(SyncHealthy(), "00000001");
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "bad")}}, "bad");
  EXPECT_EQ(Sync(), "00000002");
  Judge("00000002", phase::kSuperseded, {{"reason", "Superseded"}});
  repo_.Commit({{"other.yaml", ConfigMapYaml("other", "default", "x")}}, "skipped");
  std::string worse = repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "worse")}}, "worse");
  EXPECT_EQ(Sync(), "00000004");  // 00000003 is Skipped: a newer commit arrived first
  Judge("00000004", phase::kDegraded, {{"reason", "ProgressDeadlineExceeded"}});
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "good")}, {"other.yaml", std::nullopt}},
               "Revert \"worse\" and 2 earlier commits\n\nBosun-Reverts: " + worse +
                   "\nBosun-Reverts-To: " + good.substr(0, 12) + "\nBosun-Reason: Degraded\n");
  const std::string revert = repo_.Head();
  EXPECT_EQ(Sync(), "00000005");
  Object r5 = Record("00000005");
  EXPECT_EQ(r5.spec()["reverts"], worse);
  EXPECT_EQ(r5.spec()["revertsTo"], good);  // resolved to the full id
  EXPECT_EQ(Phases(), (std::vector<std::string>{"00000001:Healthy", "00000002:Reverted", "00000003:Skipped",
                                                "00000004:Reverted", "00000005:Applied"}));
  EXPECT_EQ(Record("00000002").status()["revertedBy"], revert);
  EXPECT_EQ(Record("00000004").status()["revertedBy"], revert);
  EXPECT_EQ(Record("00000004").status()["reason"], "ProgressDeadlineExceeded");
  EXPECT_FALSE(Record("00000001").status().contains("revertedBy"));
  EXPECT_EQ(Live("configmaps", "default", "cm")->json()["data"]["key"], "good");
  EXPECT_FALSE(Live("configmaps", "default", "other"));
}

// bosun's revert pushed, but refused as a revision of its own (the state it
// returns to no longer passes): the reverted record's revert note says it
// was not applied and needs a human, so "pushed" is not read as rolled back.
TEST_F(SyncRevisionsTest, ARefusedRevertIsNotedOnTheRevisionItReverts) {
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "good")}});
  MakeController();
  EXPECT_EQ(SyncHealthy(), "00000001");
  const std::string bad = repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "bad")}}, "bad");
  EXPECT_EQ(Sync(), "00000002");
  std::string typo = ConfigMapYaml("cm", "default", "good");
  typo.replace(typo.find("data:"), 5, "dta:");
  const std::string revert =
      repo_.Commit({{"cm.yaml", typo}}, "Revert \"bad\"\n\nBosun-Reverts: " + bad + "\nBosun-Reason: Degraded\n");
  Judge("00000002", phase::kDegraded, {{"revert", {{"commit", revert}, {"automatic", true}, {"reason", "Degraded"}}}});
  EXPECT_EQ(Sync(), "00000003");
  EXPECT_EQ(Record("00000003").status()["phase"], "Refused");
  Json note = Record("00000002").status()["revert"];
  EXPECT_EQ(note["notApplied"], Json({{"revision", "00000003"}, {"reason", "InvalidManifests"}})) << note.dump();
  EXPECT_EQ(note["needsHuman"], true);
  EXPECT_EQ(note["commit"], revert);
  EXPECT_EQ(Record("00000002").status()["phase"], "Degraded");
  EXPECT_EQ(Live("configmaps", "default", "cm")->json()["data"]["key"], "bad");

  // A revert that applies (mended by hand) reverts it after all: the note
  // that the cluster is not rolled back goes.
  const std::string mended = repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "good")}},
                                          "Revert \"bad\", mended\n\nBosun-Reverts: " + bad + "\n");
  EXPECT_EQ(Sync(), "00000004");
  note = Record("00000002").status()["revert"];
  EXPECT_FALSE(note.contains("notApplied")) << note.dump();
  EXPECT_FALSE(note.contains("needsHuman")) << note.dump();
  EXPECT_EQ(Record("00000002").status()["phase"], "Reverted");
  EXPECT_EQ(Record("00000002").status()["revertedBy"], mended);
}

// A commit message of megabytes (over the API's request limit) does not
// stop the sync at that commit: the record keeps the first 64 KiB and says
// how much more there is.
TEST_F(SyncRevisionsTest, AHugeCommitMessageIsCutInTheRecord) {
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "one")}});
  MakeController();
  EXPECT_EQ(Sync(), "00000001");
  std::string message = "big message subject\n\n";
  while (message.size() < 4 * 1024 * 1024) message += "lorem ipsum dolor sit amet é ";
  repo_.Commit({{"cm.yaml", ConfigMapYaml("cm", "default", "two")}}, message);
  EXPECT_EQ(Sync(), "00000002");
  const std::string kept = Record("00000002").spec()["message"].get<std::string>();
  EXPECT_LE(kept.size(), kMaxRecordedMessageBytes + 200);
  EXPECT_TRUE(kept.starts_with("big message subject\n\nlorem ipsum")) << kept.substr(0, 100);
  EXPECT_NE(kept.find("more bytes; `git show` has all of it]"), std::string::npos) << kept.substr(kept.size() - 200);
  EXPECT_EQ(Live("configmaps", "default", "cm")->json()["data"]["key"], "two");
}

}  // namespace
}  // namespace bosun::reconciler::synctest
