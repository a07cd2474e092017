// Drift: managed objects changed through the API while a revision is live
// are recorded in its record and, with selfHeal, put back.
#include <algorithm>

#include <gmock/gmock.h>

#include "reconciler/history.h"
#include "reconciler/plan.h"
#include "tests/reconciler/sync_test_support.h"

namespace bosun::reconciler::synctest {
namespace {

using ::testing::ElementsAre;

class SyncDriftTest : public SyncFixture {
 protected:
  // `bosun suspend` / `bosun resume`, and the controller has seen it.
  void Suspend(bool on) {
    auto p = api_.client().Patch(Kind("gitrepositories"), "", "default",
                                 {{"spec", {{"suspend", on ? Json(true) : Json(nullptr)}}}});
    ASSERT_TRUE(p.ok()) << p.error().message();
    ASSERT_TRUE(Eventually([&] { return ctl_->Suspended() == on; }));
  }
  void SetUpRepo(const std::string& sync_config = "") {
    std::map<std::string, std::optional<std::string>> files = {
        {"ns.yaml", NamespaceYaml("shop")},
        {"web.yaml", DeploymentYaml("web", "shop", 2)},
        {"cm.yaml", ConfigMapYaml("web-config", "shop", "blue")}};
    if (!sync_config.empty()) files["sync.yaml"] = SyncConfigYaml(sync_config);
    repo_.Commit(files, "first");
    MakeController();
    ASSERT_EQ(Sync(), "00000001");
  }
  Json Drift(const std::string& record = "00000001") {
    const Json st = Record(record).status();
    return st.contains("drift") ? st["drift"] : Json::array();
  }
  void ScaleByHand(int replicas) {
    auto d = Live("deployments", "shop", "web");
    ASSERT_TRUE(d);
    d->json()["spec"]["replicas"] = replicas;
    auto w = api_.client().Update(*d);
    ASSERT_TRUE(w.ok()) << w.error().message();
  }
};

TEST_F(SyncDriftTest, AChangedObjectIsRecordedAndPutBackWithSelfHeal) {
  SetUpRepo();
  ScaleByHand(7);
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1 && Drift()[0].value("healed", false); })) << Drift().dump();
  Json e = Drift()[0];
  EXPECT_EQ(e["kind"], "Deployment");
  EXPECT_EQ(e["apiVersion"], "apps/v1");
  EXPECT_EQ(e["namespace"], "shop");
  EXPECT_EQ(e["name"], "web");
  EXPECT_EQ(e["fields"], Json::array({"spec.replicas"}));
  EXPECT_TRUE(e.contains("detectedAt"));
  EXPECT_TRUE(e.contains("healedAt"));
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 2);
  // The heal itself is not drift.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(Drift().size(), 1u);
}

// A field the SyncConfig says the cluster owns (ignoreDifferences) is
// neither drift nor put back by the next revision, which changes the rest;
// once the SyncConfig no longer says so, the repository's value is put back.
TEST_F(SyncDriftTest, AFieldTheClusterOwnsIsNotDriftUntilTheRepositoryTakesItBack) {
  SetUpRepo("  ignoreDifferences:\n  - {kind: Deployment, name: web, fields: [spec.replicas]}\n");
  EXPECT_EQ(Repository().status()["syncConfig"]["ignoreDifferences"][0]["fields"], Json::array({"spec.replicas"}));
  ScaleByHand(7);
  // A hand edit of another object after it: once that is recorded as
  // drift, the Deployment's change has been looked at too.
  auto cm = Live("configmaps", "shop", "web-config");
  ASSERT_TRUE(cm);
  cm->json()["data"]["extra"] = "by hand";
  ASSERT_TRUE(api_.client().Update(*cm).ok());
  ASSERT_TRUE(Eventually([&] { return Drift().size() >= 1; })) << Drift().dump();
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(Drift().size(), 1u) << Drift().dump();
  EXPECT_EQ(Drift()[0]["kind"], "ConfigMap");
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 7);
  // A new image: applied, and the replicas stay the cluster's.
  repo_.Commit({{"web.yaml", DeploymentYaml("web", "shop", 2, "nginx:1.26")}}, "new image");
  ASSERT_EQ(Sync(), "00000002");
  auto web = Live("deployments", "shop", "web");
  EXPECT_EQ(web->spec()["replicas"], 7);
  EXPECT_EQ(web->spec()["template"]["spec"]["containers"][0]["image"], "nginx:1.26");
  const Json objects = Record("00000002").status()["objects"];
  ASSERT_EQ(objects.size(), 1u) << objects.dump();
  ASSERT_EQ(objects[0]["diff"].size(), 1u) << objects.dump();
  EXPECT_EQ(objects[0]["diff"][0]["field"], "spec.template.spec.containers[0].image");
  // The rule leaves the SyncConfig: the next revision puts 2 back, though no
  // commit touched web.yaml.
  repo_.Commit({{"sync.yaml", SyncConfigYaml("  prune: true\n")}}, "the repository owns replicas again");
  ASSERT_EQ(Sync(), "00000003");
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 2);
}

// With record_events (as `bosun server` runs it), what the sync did is an
// Event: each revision applied or refused, about its record, and each drift,
// about the object (so `bosun describe` shows it).
TEST_F(SyncDriftTest, WhatTheSyncDidIsRecordedAsEvents) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")},
                {"web.yaml", DeploymentYaml("web", "shop", 2)},
                {"sync.yaml", SyncConfigYaml("  selfHeal: false\n")}},
               "first");
  MakeController([](SyncOptions& o) { o.record_events = true; });
  ASSERT_EQ(Sync(), "00000001");
  auto events = [&] {
    auto l = api_.client().List(Kind("events"), "");
    std::vector<std::string> out;
    if (!l) return out;
    for (const Object& e : l->items) {
      const Json& j = e.json();
      out.push_back(j.value("type", "") + " " + j.value("reason", "") + " " + j["involvedObject"].value("kind", "") +
                    "/" + j["involvedObject"].value("name", "") + ": " + j.value("message", ""));
    }
    return out;
  };
  auto has = [&](const std::string& want) {
    return Eventually([&] {
      for (const auto& e : events()) {
        if (e.find(want) != std::string::npos) return true;
      }
      return false;
    });
  };
  EXPECT_TRUE(has("Normal Applied Revision/00000001: revision ")) << ::testing::PrintToString(events());
  EXPECT_TRUE(has("(\"first\") applied: 3 created, 0 updated, 0 deleted, 0 unchanged"))
      << ::testing::PrintToString(events());
  repo_.Commit({{"web.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"}},
               "broken");
  ASSERT_EQ(Sync(), "00000002");
  EXPECT_TRUE(has("Warning InvalidManifests Revision/00000002: revision ")) << ::testing::PrintToString(events());
  ScaleByHand(7);
  EXPECT_TRUE(
      has("Warning Drift Deployment/web: spec.replicas changed by hand; left as is: self-heal is off "
          "(`bosun sync` puts it back to revision 00000001"))
      << ::testing::PrintToString(events());
  // The Event is about the object itself: its uid.
  auto web = Live("deployments", "shop", "web");
  auto about = api_.client().List(Kind("events"), "shop", state::Selectors("", "involvedObject.uid=" + web->uid()));
  ASSERT_TRUE(about.ok());
  EXPECT_EQ(about->items.size(), 1u);
  // Suspended, the way back starts with `bosun resume` (`bosun sync`
  // refuses); self-heal is off here, so then `bosun sync`.
  ASSERT_NO_FATAL_FAILURE(Suspend(true));
  ScaleByHand(9);
  EXPECT_TRUE(
      has("Warning Drift Deployment/web: spec.replicas changed by hand; left as is: syncing is suspended "
          "(`bosun resume`, then `bosun sync`, put it back to revision 00000001"))
      << ::testing::PrintToString(events());
}

// `bosun suspend` and `bosun resume` are in the changelog: an Event each on
// the GitRepository, and in the live revision's record (status.suspensions)
// when it began, why, and when it ended.
TEST_F(SyncDriftTest, ASuspensionIsRecordedInTheLiveRevisionAndAsEvents) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}}, "first");
  MakeController([](SyncOptions& o) { o.record_events = true; });
  ASSERT_EQ(Sync(), "00000001");
  auto patch = [&](const Json& p) {
    auto r = api_.client().Patch(Kind("gitrepositories"), "", "default", p);
    ASSERT_TRUE(r.ok()) << r.error().message();
  };
  ASSERT_NO_FATAL_FAILURE(
      patch({{"spec", {{"suspend", true}}},
             {"metadata",
              {{"annotations",
                {{"bosun.dev/suspended-at", "2026-11-24T10:00:00Z"}, {"bosun.dev/suspend-reason", "incident 42"}}}}}}));
  ASSERT_TRUE(Eventually([&] { return Record("00000001").status().contains("suspensions"); }))
      << Record("00000001").status().dump();
  EXPECT_EQ(Record("00000001").status()["suspensions"],
            Json::parse(R"([{"suspendedAt":"2026-11-24T10:00:00Z","reason":"incident 42"}])"));
  ASSERT_NO_FATAL_FAILURE(patch(
      {{"spec", {{"suspend", nullptr}}},
       {"metadata", {{"annotations", {{"bosun.dev/suspended-at", nullptr}, {"bosun.dev/suspend-reason", nullptr}}}}}}));
  ASSERT_TRUE(Eventually([&] { return Record("00000001").status()["suspensions"][0].contains("resumedAt"); }))
      << Record("00000001").status().dump();
  std::vector<std::string> got;
  ASSERT_TRUE(Eventually([&] {
    got.clear();
    auto l = api_.client().List(Kind("events"), "");
    if (!l) return false;
    for (const Object& e : l->items) {
      if (e.json()["involvedObject"].value("kind", "") != "GitRepository") continue;
      got.push_back(e.json().value("type", "") + " " + e.json().value("reason", "") + ": " +
                    e.json().value("message", ""));
    }
    return got.size() == 2;
  })) << ::testing::PrintToString(got);
  std::sort(got.begin(), got.end());
  EXPECT_THAT(got[0], ::testing::StartsWith("Normal Resumed: sync resumed after "));
  EXPECT_THAT(got[0], ::testing::HasSubstr("(suspended at 2026-11-24T10:00:00Z: incident 42)"));
  EXPECT_EQ(got[1],
            "Warning Suspended: sync suspended: incident 42; new commits are fetched, not applied; drift is recorded, "
            "not healed; no automatic revert (`bosun resume` to go on)");

  // Suspended again, and resumed while no leader runs: the next leader
  // closes the entry left open when it starts.
  ASSERT_NO_FATAL_FAILURE(
      patch({{"spec", {{"suspend", true}}},
             {"metadata", {{"annotations", {{"bosun.dev/suspended-at", "2026-11-24T11:00:00Z"}}}}}}));
  ASSERT_TRUE(Eventually([&] { return Record("00000001").status()["suspensions"].size() == 2; }))
      << Record("00000001").status().dump();
  ctl_.reset();
  ASSERT_NO_FATAL_FAILURE(patch(
      {{"spec", {{"suspend", nullptr}}}, {"metadata", {{"annotations", {{"bosun.dev/suspended-at", nullptr}}}}}}));
  MakeController([](SyncOptions& o) { o.record_events = true; });
  EXPECT_EQ(Sync(), "");
  ASSERT_TRUE(Eventually([&] {
    const Json s = Record("00000001").status()["suspensions"];
    return s.size() == 2 && s[1].value("suspendedAt", "") == "2026-11-24T11:00:00Z" && s[1].contains("resumedAt");
  })) << Record("00000001").status().dump();
}

// A live revision applied when unknown fields were only warnings (bosun
// before November 2026, here a server default of Warn): after the upgrade
// to Strict its set is still what is live, and drift is still checked.
TEST_F(SyncDriftTest, DriftIsCheckedWhenTheLiveRevisionHasFieldsStrictNowRefuses) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")},
                {"web.yaml", DeploymentYaml("web", "shop", 2)},
                {"cm.yaml", ConfigMapYaml("web-config", "shop", "blue") + "dta: {k: v}\n"}},
               "first");
  MakeController([](SyncOptions& o) { o.field_validation = FieldValidation::kWarn; });
  ASSERT_EQ(Sync(), "00000001");
  ctl_.reset();
  MakeController();       // the default, Strict
  EXPECT_EQ(Sync(), "");  // the head is live: nothing to apply or refuse
  EXPECT_EQ(Repository().status()["syncConfig"]["fieldValidation"], "Strict");
  ScaleByHand(7);
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1 && Drift()[0].value("healed", false); })) << Drift().dump();
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 2);
}

TEST_F(SyncDriftTest, ADeletedManagedObjectIsRecreated) {
  SetUpRepo();
  ASSERT_TRUE(api_.client().Delete(Kind("configmaps"), "shop", "web-config").ok());
  ASSERT_TRUE(Eventually([&] { return Live("configmaps", "shop", "web-config").has_value(); }));
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1; }));
  EXPECT_EQ(Drift()[0]["deleted"], true);
  EXPECT_EQ(Drift()[0]["healed"], true);
  EXPECT_EQ(Live("configmaps", "shop", "web-config")->json()["data"]["key"], "blue");
}

// `bosun apply` of a hand-written copy replaces the whole object, bosun's
// label included: it leaves the sync's cache (which holds labelled objects
// only) but it is still there. A change, with its fields, not a delete.
TEST_F(SyncDriftTest, AnObjectReplacedByHandWithoutBosunsLabelIsAChangeNotADelete) {
  SetUpRepo();
  auto cm = Live("configmaps", "shop", "web-config");
  ASSERT_TRUE(cm);
  const std::string uid = cm->uid();
  Object mine(cm->gvk(), "shop", "web-config");
  mine.set_resource_version(cm->resource_version());
  mine.json()["data"] = {{"key", "red"}};
  ASSERT_TRUE(api_.client().Update(mine).ok());
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1 && Drift()[0].value("healed", false); })) << Drift().dump();
  const Json e = Drift()[0];
  EXPECT_FALSE(e.value("deleted", false)) << e.dump();
  EXPECT_THAT(e["fields"].dump(), ::testing::HasSubstr("data.key"));
  EXPECT_THAT(e["fields"].dump(), ::testing::HasSubstr("bosun.dev/managed-by"));
  auto healed = Live("configmaps", "shop", "web-config");
  EXPECT_EQ(healed->uid(), uid);  // updated in place, never deleted
  EXPECT_EQ(healed->json()["data"]["key"], "blue");
  EXPECT_EQ(healed->label(kManagedByLabel).value_or(""), "bosun");
}

// `bosun suspend` (the GitRepository's spec.suspend): a new commit is
// fetched, not applied; drift is recorded, not put back; a restart keeps
// it, and drift is recorded after it too. `bosun resume` applies what
// waited.
TEST_F(SyncDriftTest, WhileSuspendedNothingIsAppliedAndDriftIsOnlyRecorded) {
  SetUpRepo();
  ASSERT_NO_FATAL_FAILURE(Suspend(true));
  const std::string c2 = repo_.Commit({{"cm.yaml", ConfigMapYaml("web-config", "shop", "green")}}, "green");
  EXPECT_EQ(Sync(), "");  // fetched, not applied
  EXPECT_EQ(Repository().status()["head"], c2);
  EXPECT_EQ(Repository().status()["suspended"], true);
  EXPECT_EQ(Live("configmaps", "shop", "web-config")->json()["data"]["key"], "blue");
  EXPECT_EQ(Records().size(), 1u);

  ScaleByHand(7);
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1; })) << Drift().dump();
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(Drift()[0].value("healed", false)) << Drift().dump();
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 7);

  // A restart (a new leader) keeps it: the spec it writes from its flags
  // keeps spec.suspend; it records drift against the live revision too.
  ctl_.reset();
  MakeController();
  EXPECT_EQ(Sync(), "");
  EXPECT_TRUE(ctl_->Suspended());
  EXPECT_EQ(Repository().spec()["suspend"], true);
  EXPECT_EQ(Live("configmaps", "shop", "web-config")->json()["data"]["key"], "blue");
  auto cm = Live("configmaps", "shop", "web-config");
  cm->json()["data"]["key"] = "pink";
  ASSERT_TRUE(api_.client().Update(*cm).ok());
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 2; })) << Drift().dump();
  EXPECT_FALSE(Drift()[1].value("healed", false));

  ASSERT_NO_FATAL_FAILURE(Suspend(false));
  EXPECT_EQ(Sync(), "00000002");
  EXPECT_EQ(Live("configmaps", "shop", "web-config")->json()["data"]["key"], "green");
  EXPECT_TRUE(Eventually([&] { return Live("deployments", "shop", "web")->spec()["replicas"] == 2; }));
  EXPECT_FALSE(Repository().status().contains("suspended"));
}

// Drift left while suspended is put back on resume with self-heal, though
// nothing new is applied (the head is live); with self-heal off it stays,
// as it would have without the suspension.
TEST_F(SyncDriftTest, OnResumeDriftLeftWhileSuspendedIsPutBackWithSelfHeal) {
  SetUpRepo();
  ASSERT_NO_FATAL_FAILURE(Suspend(true));
  ScaleByHand(7);
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1; })) << Drift().dump();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 7);
  ASSERT_NO_FATAL_FAILURE(Suspend(false));
  EXPECT_EQ(Sync(), "");  // the pass the resume asks for: nothing new to apply
  ASSERT_TRUE(Eventually([&] { return Live("deployments", "shop", "web")->spec()["replicas"] == 2; }));
  EXPECT_TRUE(Eventually([&] { return Drift()[0].value("healed", false); })) << Drift().dump();
}

TEST_F(SyncDriftTest, OnResumeDriftStaysWithSelfHealOff) {
  SetUpRepo("  selfHeal: false\n");
  ASSERT_NO_FATAL_FAILURE(Suspend(true));
  ScaleByHand(7);
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1; })) << Drift().dump();
  ASSERT_NO_FATAL_FAILURE(Suspend(false));
  EXPECT_EQ(Sync(), "");
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 7);
  EXPECT_FALSE(Drift()[0].value("healed", false)) << Drift().dump();
}

TEST_F(SyncDriftTest, WithSelfHealOffDriftIsOnlyRecorded) {
  SetUpRepo("  selfHeal: false\n");
  ScaleByHand(7);
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1; })) << Drift().dump();
  EXPECT_EQ(Drift()[0]["healed"], false);
  EXPECT_EQ(Drift()[0]["fields"], Json::array({"spec.replicas"}));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 7);
  // The same drift seen again is one entry, not two.
  ScaleByHand(8);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(Drift().size(), 1u) << Drift().dump();

  const std::string first = Record("00000001").spec()["commit"];

  // The next revision applies its desired state over the drifted object. Its
  // commit did not touch the Deployment: its record says the change is drift
  // put back, the Deployment's bosun.dev/revision stays the commit that made
  // it, and the drift the live revision held open is closed by this apply.
  const std::string green = repo_.Commit({{"cm.yaml", ConfigMapYaml("web-config", "shop", "green")}}, "green");
  EXPECT_EQ(Sync(), "00000002");
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 2);
  EXPECT_EQ(Record("00000002").status()["changes"]["updated"], 2);
  std::map<std::string, bool> put_back;
  const Json second = Record("00000002").status();
  for (const Json& o : second["objects"]) {
    put_back[o.value("kind", "")] = o.value("driftPutBack", false);
  }
  EXPECT_EQ(put_back, (std::map<std::string, bool>{{"ConfigMap", false}, {"Deployment", true}}));
  EXPECT_EQ(Live("deployments", "shop", "web")->annotation(kRevisionAnnotation), first);
  EXPECT_EQ(Live("configmaps", "shop", "web-config")->annotation(kRevisionAnnotation), green);
  ASSERT_EQ(Drift().size(), 1u) << Drift().dump();
  EXPECT_EQ(Drift()[0]["healed"], true);
  EXPECT_EQ(Drift()[0]["healedBy"], "revision 00000002");
  EXPECT_EQ(Drift()[0]["fields"], Json::array({"spec.replicas"}));
}

// Self-heal off, then `bosun sync` (a manual trigger, nothing new to
// apply): the drift is put back, as Argo CD's manual sync does, and the
// record says the request did it.
TEST_F(SyncDriftTest, WithSelfHealOffASyncRequestPutsTheDriftBack) {
  SetUpRepo("  selfHeal: false\n");
  ScaleByHand(7);
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1; })) << Drift().dump();
  EXPECT_EQ(Drift()[0]["healed"], false);
  EXPECT_EQ(Sync(SyncTrigger::kPoll), "");  // a poll leaves it
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 7);
  EXPECT_EQ(Sync(SyncTrigger::kManual), "");
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 2);
  ASSERT_EQ(Drift().size(), 1u) << Drift().dump();  // the same entry, now healed
  EXPECT_EQ(Drift()[0]["healed"], true);
  EXPECT_EQ(Drift()[0]["healedBy"], "sync request");
  EXPECT_EQ(Drift()[0]["fields"], Json::array({"spec.replicas"}));
}

// Drift left in place that someone undoes by hand is closed in the record
// (healedBy: hand), so nothing goes on saying the object is changed.
TEST_F(SyncDriftTest, WithSelfHealOffDriftUndoneByHandIsClosed) {
  SetUpRepo("  selfHeal: false\n");
  ScaleByHand(7);
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1; })) << Drift().dump();
  EXPECT_EQ(Drift()[0]["healed"], false);
  ScaleByHand(2);  // as the revision has it
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1 && Drift()[0].value("healed", false); })) << Drift().dump();
  EXPECT_EQ(Drift()[0]["healedBy"], "hand");
  EXPECT_EQ(Drift()[0]["fields"], Json::array({"spec.replicas"}));
  // Changed again: a new, open entry.
  ScaleByHand(5);
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 2; })) << Drift().dump();
  EXPECT_EQ(Drift()[1]["healed"], false);
}

// The open entry is in the record, not only in the memory of the leader
// that saw the drift happen: undone by hand while no leader ran, the next
// leader closes it.
TEST_F(SyncDriftTest, DriftUndoneByHandBetweenLeadersIsClosedByTheNext) {
  SetUpRepo("  selfHeal: false\n");
  ScaleByHand(7);
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1; })) << Drift().dump();
  ctl_.reset();    // that leader stops
  ScaleByHand(2);  // as the revision has it, while no controller runs
  MakeController();
  EXPECT_EQ(Sync(), "");  // the head is live: no record
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1 && Drift()[0].value("healed", false); })) << Drift().dump();
  EXPECT_EQ(Drift()[0]["healedBy"], "hand");
}

TEST_F(SyncDriftTest, OurOwnWritesAndOtherWritersAnnotationsAreNotDrift) {
  SetUpRepo();
  repo_.Commit({{"web.yaml", DeploymentYaml("web", "shop", 4)}, {"cm.yaml", std::nullopt}}, "scale, drop config");
  EXPECT_EQ(Sync(), "00000002");
  auto d = Live("deployments", "shop", "web");
  d->set_annotation("deployment.kubernetes.io/revision", "3");
  d->json()["status"] = {{"replicas", 4}};
  ASSERT_TRUE(api_.client().Update(*d).ok());
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(Drift("00000001").size(), 0u) << Drift("00000001").dump();
  EXPECT_EQ(Drift("00000002").size(), 0u) << Drift("00000002").dump();
}

TEST_F(SyncDriftTest, DriftThatHappenedWhileNoControllerRanIsFoundAtStart) {
  SetUpRepo();
  ctl_.reset();
  ScaleByHand(9);
  MakeController();
  EXPECT_EQ(Sync(), "");  // the head is live: no record
  ASSERT_TRUE(Eventually([&] { return Drift().size() == 1 && Drift()[0].value("healed", false); })) << Drift().dump();
  EXPECT_EQ(Live("deployments", "shop", "web")->spec()["replicas"], 2);
}

}  // namespace
}  // namespace bosun::reconciler::synctest
