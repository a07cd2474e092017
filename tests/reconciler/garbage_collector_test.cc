// The garbage collector against a real API server (test::InProcessApi):
// owners and dependents are written through the API as the workload
// controllers would write them; deleting an owner must remove what it owns,
// and nothing else.
#include "reconciler/garbage_collector.h"

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::reconciler {
namespace {

using namespace std::chrono_literals;

const KindInfo& Kind(const char* k) { return *KindRegistry::Builtin().FindKind(k); }

OwnerReference Ref(const Object& owner, bool controller = true) {
  OwnerReference r;
  r.api_version = owner.api_version();
  r.kind = owner.kind();
  r.name = owner.name();
  r.uid = owner.uid();
  r.controller = controller;
  return r;
}

Json PodTemplate(const std::string& app) {
  return {{"metadata", {{"labels", {{"app", app}}}}},
          {"spec", {{"containers", Json::array({{{"name", "main"}, {"image", "busybox"}}})}}}};
}

class GarbageCollectorTest : public ::testing::Test {
 protected:
  void Start() {
    ManagerOptions mo;
    mo.sync_timeout = 10s;
    mgr_ = std::make_unique<ControllerManager>(&api_.client(), &Clock::System(), mo);
    ASSERT_TRUE(AddGarbageCollector(*mgr_));
    auto s = mgr_->Start();
    ASSERT_TRUE(s) << s.error().message();
  }
  void TearDown() override {
    if (mgr_) mgr_->Stop();
  }

  Object Create(Object o, const std::vector<OwnerReference>& owners = {}) {
    if (!owners.empty()) o.set_owner_references(owners);
    auto r = api_.client().Create(o);
    EXPECT_TRUE(r) << o.Describe() << ": " << (r ? "" : r.error().message());
    return r ? *r : o;
  }
  Object Deployment(const std::string& name) {
    Object d(GroupVersionKind{"apps", "v1", "Deployment"}, "default", name);
    d.json()["spec"] = {{"replicas", 2}, {"selector", {{"matchLabels", {{"app", name}}}}}, {"template", PodTemplate(name)}};
    return Create(d);
  }
  Object ReplicaSet(const std::string& name, const Object& owner) {
    Object rs(GroupVersionKind{"apps", "v1", "ReplicaSet"}, "default", name);
    rs.json()["spec"] = {{"replicas", 2}, {"selector", {{"matchLabels", {{"app", name}}}}}, {"template", PodTemplate(name)}};
    return Create(rs, {Ref(owner)});
  }
  Object Pod(const std::string& name, const std::vector<OwnerReference>& owners = {}) {
    Object p(GroupVersionKind{"", "v1", "Pod"}, "default", name);
    p.json()["spec"] = PodTemplate(name)["spec"];
    return Create(p, owners);
  }
  Object ConfigMap(const std::string& name, const std::vector<OwnerReference>& owners) {
    Object cm(GroupVersionKind{"", "v1", "ConfigMap"}, "default", name);
    cm.json()["data"] = {{"k", "v"}};
    return Create(cm, owners);
  }
  bool Exists(const char* kind, const std::string& name) {
    return api_.client().Get(Kind(kind), "default", name).ok();
  }
  void Delete(const Object& o) {
    auto r = api_.client().Delete(*KindRegistry::Builtin().Find(o.gvk()), o.namespace_(), o.name());
    ASSERT_TRUE(r) << r.error().message();
  }
  // The names of the objects a GarbageCollected Event is about (nullopt:
  // the Events cannot be listed).
  std::optional<std::set<std::string>> Collected() {
    mgr_->events().Flush();
    auto events = api_.client().List(Kind("Event"), "default");
    if (!events) return std::nullopt;
    std::set<std::string> names;
    for (const auto& e : events->items) {
      if (e.json().value("reason", "") == "GarbageCollected") names.insert(e.json()["involvedObject"].value("name", ""));
    }
    return names;
  }

  test::TempDir dir_{"bosun-gc"};
  test::InProcessApi api_{dir_.Sub("db")};
  std::unique_ptr<ControllerManager> mgr_;
};

TEST_F(GarbageCollectorTest, DeletingADeploymentRemovesItsReplicaSetsAndTheirPods) {
  Start();
  Object deploy = Deployment("web");
  Object rs1 = ReplicaSet("web-1111", deploy);
  Object rs2 = ReplicaSet("web-2222", deploy);
  for (const char* p : {"web-1111-a", "web-1111-b"}) Pod(p, {Ref(rs1)});
  Pod("web-2222-a", {Ref(rs2)});
  Pod("bystander");
  Object other = Deployment("other");
  Object other_rs = ReplicaSet("other-3333", other);
  Pod("other-3333-a", {Ref(other_rs)});

  // Nothing owned by a live owner goes.
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(Exists("ReplicaSet", "web-1111"));
  EXPECT_TRUE(Exists("Pod", "web-1111-a"));

  Delete(deploy);
  EXPECT_TRUE(test::Eventually([&] {
    return !Exists("ReplicaSet", "web-1111") && !Exists("ReplicaSet", "web-2222") && !Exists("Pod", "web-1111-a") &&
           !Exists("Pod", "web-1111-b") && !Exists("Pod", "web-2222-a");
  })) << "the Deployment's ReplicaSets and pods must go";
  EXPECT_TRUE(Exists("Pod", "bystander"));
  EXPECT_TRUE(Exists("Deployment", "other"));
  EXPECT_TRUE(Exists("ReplicaSet", "other-3333"));
  EXPECT_TRUE(Exists("Pod", "other-3333-a"));

  // The collector records each Event after its delete: the last ones may
  // not be recorded yet when the objects are gone.
  const std::set<std::string> all{"web-1111", "web-2222", "web-1111-a", "web-1111-b", "web-2222-a"};
  (void)test::Eventually([&] { return Collected() == all; }, 5s);
  auto collected = Collected();
  ASSERT_TRUE(collected) << "cannot list the Events";
  EXPECT_EQ(*collected, all);
}

TEST_F(GarbageCollectorTest, AnObjectWithAnotherLiveOwnerOnlyLosesTheReference) {
  Start();
  Object a = Deployment("a");
  Object b = Deployment("b");
  Object shared = ConfigMap("shared", {Ref(a, false), Ref(b, false)});

  Delete(a);
  ASSERT_TRUE(test::Eventually([&] {
    auto cm = api_.client().Get(Kind("ConfigMap"), "default", "shared");
    return cm && cm->owner_references().size() == 1;
  }));
  auto cm = api_.client().Get(Kind("ConfigMap"), "default", "shared");
  ASSERT_TRUE(cm);
  EXPECT_EQ(cm->owner_references()[0].uid, b.uid());
  EXPECT_EQ(cm->json()["data"]["k"], "v");

  Delete(b);
  EXPECT_TRUE(test::Eventually([&] { return !Exists("ConfigMap", "shared"); })) << "its last owner gone, it goes";
}

TEST_F(GarbageCollectorTest, JobAndSealedSecretDependentsGoWithThem) {
  Start();
  Object job(GroupVersionKind{"batch", "v1", "Job"}, "default", "migrate");
  Json tmpl = PodTemplate("migrate");
  tmpl["spec"]["restartPolicy"] = "Never";
  job.json()["spec"] = {{"template", tmpl}};
  job = Create(job);
  Pod("migrate-abcde", {Ref(job)});
  Object sealed(GroupVersionKind{"bosun.dev", "v1", "SealedSecret"}, "default", "db");
  // Shaped like a sealed value (the API validates that); never opened here.
  sealed.json()["spec"] = {{"encryptedData", {{"password", std::string(80, 'A')}}}};
  sealed = Create(sealed);
  Object secret(GroupVersionKind{"", "v1", "Secret"}, "default", "db");
  secret.json()["data"] = {{"password", "c2VjcmV0"}};
  Create(secret, {Ref(sealed)});

  Delete(job);
  Delete(sealed);
  EXPECT_TRUE(test::Eventually([&] { return !Exists("Pod", "migrate-abcde") && !Exists("Secret", "db"); }));
}

TEST_F(GarbageCollectorTest, OwnersAreJudgedByTheApiNotTheCache) {
  // An owner of a kind the collector does not watch is never in its cache:
  // only a live GET can tell it exists.
  Object node = Create(Object(GroupVersionKind{"", "v1", "Node"}, "", "n1"));
  Pod("owned-by-live-node", {Ref(node, false)});
  OwnerReference ghost = Ref(node, false);
  ghost.name = "n-gone";
  ghost.uid = "00000000-0000-0000-0000-000000000000";
  Pod("owned-by-missing-node", {ghost});
  // Same name, another uid: the owner it named was deleted and replaced.
  Object web = Deployment("web");
  OwnerReference stale = Ref(web);
  stale.uid = "11111111-1111-1111-1111-111111111111";
  Pod("owned-by-old-web", {stale});
  Pod("owned-by-web", {Ref(web)});
  Start();  // dependents whose owners were gone before the collector started count too

  EXPECT_TRUE(test::Eventually([&] { return !Exists("Pod", "owned-by-missing-node") && !Exists("Pod", "owned-by-old-web"); }));
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(Exists("Pod", "owned-by-live-node"));
  EXPECT_TRUE(Exists("Pod", "owned-by-web"));
}

// A replace (the sync's way to change an immutable field, docs/GITOPS.md
// "Immutable fields") writes the Deployment again under its name with a new
// uid, in one MODIFIED event: what the old one owned must go all the same.
TEST_F(GarbageCollectorTest, WhatAReplacedOwnerOwnedGoes) {
  Start();
  Object web = Deployment("web");
  Object rs = ReplicaSet("web-1111", web);
  Pod("web-1111-a", {Ref(rs)});
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(Exists("ReplicaSet", "web-1111"));

  Object moved = web;
  moved.json()["spec"]["selector"]["matchLabels"]["app"] = "web2";
  moved.json()["spec"]["template"] = PodTemplate("web2");
  state::BatchOp op;
  op.type = state::BatchOp::Type::kReplace;
  op.object = moved;
  std::vector<state::BatchOp> ops;
  ops.push_back(std::move(op));
  auto r = api_.client().Batch(std::move(ops));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_NE(r->items[0].uid(), web.uid());

  EXPECT_TRUE(test::Eventually([&] { return !Exists("ReplicaSet", "web-1111") && !Exists("Pod", "web-1111-a"); }))
      << "the old Deployment's ReplicaSet and pods must go";
  auto now = api_.client().Get(Kind("Deployment"), "default", "web");
  ASSERT_TRUE(now) << now.error().message();
  EXPECT_EQ(now->uid(), r->items[0].uid());
}

}  // namespace
}  // namespace bosun::reconciler
