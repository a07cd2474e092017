// The ReplicaSet controller against a real API (test::InProcessApi) with the
// test kubelet of apps_test_support.h.
#include <regex>

#include <gmock/gmock.h>

#include "tests/reconciler/apps_test_support.h"

namespace bosun::reconciler::appstest {
namespace {

using ::testing::Contains;
using ::testing::SizeIs;

class ReplicaSetTest : public AppsFixture {};

int64_t StatusOf(const Object& o, const char* field) {
  return apps::Int(o.status(), field, -1);
}

TEST_F(ReplicaSetTest, CreatesOwnedPodsFromItsTemplateAndReportsStatus) {
  StartControllers(false);
  auto rs = client().Create(MakeReplicaSet("web", 3));
  ASSERT_TRUE(rs.ok()) << rs.error().message();

  ASSERT_TRUE(Eventually([&] {
    Object cur = Get(ReplicaSetKind(), "web");
    return StatusOf(cur, "availableReplicas") == 3 && StatusOf(cur, "readyReplicas") == 3 &&
           StatusOf(cur, "replicas") == 3 && StatusOf(cur, "fullyLabeledReplicas") == 3 &&
           StatusOf(cur, "observedGeneration") == cur.generation();
  })) << Get(ReplicaSetKind(), "web").status().dump();

  std::vector<Object> pods = ActivePods();
  ASSERT_THAT(pods, SizeIs(3));
  const std::regex name_re("web-[a-z0-9]{5}");
  for (const Object& p : pods) {
    EXPECT_TRUE(std::regex_match(p.name(), name_re)) << p.name();
    auto ref = p.controller_ref();
    ASSERT_TRUE(ref.has_value()) << p.name();
    EXPECT_EQ(ref->kind, "ReplicaSet");
    EXPECT_EQ(ref->name, "web");
    EXPECT_EQ(ref->uid, rs->uid());
    EXPECT_TRUE(ref->block_owner_deletion);
    EXPECT_EQ(p.label("app").value_or(""), "web");
    EXPECT_EQ(Image(p), "bosun.test/web:1");
  }
  mgr_->events().Flush();
  EXPECT_THAT(EventMessages("web", "SuccessfulCreate"), Contains("Created pod: " + pods[0].name()));
}

TEST_F(ReplicaSetTest, ScalesUpAndDownDeletingNotReadyPodsFirst) {
  StartControllers(false);
  ASSERT_TRUE(client().Create(MakeReplicaSet("web", 3)).ok());
  ASSERT_TRUE(Eventually([&] { return StatusOf(Get(ReplicaSetKind(), "web"), "readyReplicas") == 3; }));
  std::set<std::string> ready_ones;
  for (const Object& p : ActivePods()) ready_ones.insert(p.name());

  // Two more that never become ready...
  kubelet_->set_never_ready([](const Object&) { return true; });
  Modify(ReplicaSetKind(), "web", [](Object& o) { o.json()["spec"]["replicas"] = 5; });
  ASSERT_TRUE(Eventually([&] {
    Object cur = Get(ReplicaSetKind(), "web");
    return StatusOf(cur, "replicas") == 5 && ActivePods().size() == 5;
  }));
  // ...are the ones removed when it shrinks back to 3.
  Modify(ReplicaSetKind(), "web", [](Object& o) { o.json()["spec"]["replicas"] = 3; });
  ASSERT_TRUE(Eventually([&] { return StatusOf(Get(ReplicaSetKind(), "web"), "replicas") == 3; }));
  std::set<std::string> left;
  for (const Object& p : ActivePods()) left.insert(p.name());
  EXPECT_EQ(left, ready_ones);

  // Down to zero.
  Modify(ReplicaSetKind(), "web", [](Object& o) { o.json()["spec"]["replicas"] = 0; });
  ASSERT_TRUE(Eventually([&] { return ActivePods().empty() && StatusOf(Get(ReplicaSetKind(), "web"), "replicas") == 0; }));
  mgr_->events().Flush();
  EXPECT_THAT(EventMessages("web", "SuccessfulDelete"), SizeIs(5));
}

TEST_F(ReplicaSetTest, AdoptsMatchingOrphansAndReleasesPodsThatStopMatching) {
  kubelet_->Hold(true);
  for (const char* name : {"orphan-a", "orphan-b"}) {
    Object pod(GroupVersionKind{"", "v1", "Pod"}, "default", name);
    pod.set_label("app", "web");
    pod.json()["spec"] = {{"containers", {{{"name", "app"}, {"image", "bosun.test/web:1"}}}}};
    ASSERT_TRUE(client().Create(pod).ok());
  }
  Object other(GroupVersionKind{"", "v1", "Pod"}, "default", "not-mine");
  other.set_label("app", "db");
  other.json()["spec"] = {{"containers", {{{"name", "app"}, {"image", "bosun.test/web:1"}}}}};
  ASSERT_TRUE(client().Create(other).ok());

  StartControllers(false);
  auto rs = client().Create(MakeReplicaSet("web", 3));
  ASSERT_TRUE(rs.ok());
  ASSERT_TRUE(Eventually([&] { return StatusOf(Get(ReplicaSetKind(), "web"), "replicas") == 3; }));
  for (const char* name : {"orphan-a", "orphan-b"}) {
    auto ref = Get(PodKind(), name).controller_ref();
    ASSERT_TRUE(ref.has_value()) << name << " was not adopted";
    EXPECT_EQ(ref->uid, rs->uid());
  }
  EXPECT_FALSE(Get(PodKind(), "not-mine").controller_ref().has_value());
  EXPECT_THAT(ActivePods(), SizeIs(4));  // two adopted, one created, one not selected

  // A pod relabelled out of the selector is released and replaced.
  Modify(PodKind(), "orphan-a", [](Object& o) { o.set_label("app", "debug"); });
  ASSERT_TRUE(Eventually([&] {
    return !Get(PodKind(), "orphan-a").controller_ref().has_value() && ActivePods().size() == 5;
  }));
  EXPECT_EQ(StatusOf(Get(ReplicaSetKind(), "web"), "replicas"), 3);
}

TEST_F(ReplicaSetTest, DeletesAndReplacesFailedPods) {
  StartControllers(false);
  ASSERT_TRUE(client().Create(MakeReplicaSet("web", 2)).ok());
  ASSERT_TRUE(Eventually([&] { return StatusOf(Get(ReplicaSetKind(), "web"), "readyReplicas") == 2; }));
  std::string victim = ActivePods()[0].name();
  Object pod = Get(PodKind(), victim);
  pod.json()["status"]["phase"] = "Failed";
  pod.json()["status"]["conditions"] = Json::array();
  ASSERT_TRUE(client().UpdateStatus(pod).ok());

  ASSERT_TRUE(Eventually([&] {
    auto gone = client().Get(PodKind(), "default", victim);
    return !gone && gone.error().code() == Code::kNotFound && ActivePods().size() == 2 &&
           StatusOf(Get(ReplicaSetKind(), "web"), "readyReplicas") == 2;
  }));
  EXPECT_THAT(kubelet_->seen(), SizeIs(3));
}

TEST_F(ReplicaSetTest, PodsBecomeAvailableOnlyAfterMinReadySeconds) {
  StartControllers(false);
  Object rs = MakeReplicaSet("web", 2);
  rs.json()["spec"]["minReadySeconds"] = 2;
  ASSERT_TRUE(client().Create(rs).ok());
  ASSERT_TRUE(Eventually([&] { return StatusOf(Get(ReplicaSetKind(), "web"), "readyReplicas") == 2; }));
  auto ready_at = std::chrono::steady_clock::now();
  EXPECT_EQ(StatusOf(Get(ReplicaSetKind(), "web"), "availableReplicas"), 0);
  // Nothing but the controller's own "again after" brings it back.
  ASSERT_TRUE(Eventually([&] { return StatusOf(Get(ReplicaSetKind(), "web"), "availableReplicas") == 2; }, 6s));
  // Ready times have second precision: at least 1 s of the 2 had to pass.
  EXPECT_GE(std::chrono::steady_clock::now() - ready_at, 900ms);
}

TEST_F(ReplicaSetTest, NeverCreatesMorePodsThanAskedWhileBeingPoked) {
  StartControllers(false);
  ASSERT_TRUE(client().Create(MakeReplicaSet("web", 20)).ok());
  // Every change of the ReplicaSet brings a reconcile while pods are being
  // created and readied: read-your-writes must keep the count exact.
  for (int i = 0; i < 20; ++i) {
    Modify(ReplicaSetKind(), "web", [i](Object& o) { o.set_annotation("poke", std::to_string(i)); });
  }
  ASSERT_TRUE(Eventually([&] { return StatusOf(Get(ReplicaSetKind(), "web"), "readyReplicas") == 20; }));
  EXPECT_THAT(kubelet_->seen(), SizeIs(20));
  EXPECT_THAT(ActivePods(), SizeIs(20));
}

}  // namespace
}  // namespace bosun::reconciler::appstest
