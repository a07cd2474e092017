// The Deployment controller (with the ReplicaSet controller) against a real
// API (test::InProcessApi) and the test kubelet of apps_test_support.h, and
// `bosun rollout status` run as the real binary against that API.
#include <algorithm>
#include <atomic>

#include <gmock/gmock.h>

#include "tests/reconciler/apps_test_support.h"

namespace bosun::reconciler::appstest {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// Clears the kubelet's sample callback when the test body returns, also on
// a failed ASSERT: declared after the locals the callback captures, it goes
// first. set_sample takes the kubelet's mutex, under which OnEvent calls the
// callback, so no call is still running into those locals once it returns.
struct SampleOff {
  TestKubelet* kubelet;
  ~SampleOff() { kubelet->set_sample(nullptr); }
};

class DeploymentTest : public AppsFixture {
 protected:
  Object Deployment(const std::string& name = "web") { return Get(DeploymentKind(), name); }

  // The ReplicaSets of a deployment, oldest revision first.
  std::vector<Object> ReplicaSets() {
    std::vector<Object> out = List(ReplicaSetKind());
    std::sort(out.begin(), out.end(), [](const Object& a, const Object& b) {
      return apps::IntAnnotation(a, apps::kRevisionAnnotation) < apps::IntAnnotation(b, apps::kRevisionAnnotation);
    });
    return out;
  }

  static std::string ConditionReason(const Object& d, const char* type) {
    const Json* c = apps::FindCondition(d.status(), type);
    return c == nullptr ? "" : apps::Str(*c, "status") + "/" + apps::Str(*c, "reason");
  }

  // kubectl's "successfully rolled out", plus nothing old left over.
  bool RolledOut(const std::string& name = "web") {
    Object d = Deployment(name);
    int64_t want = apps::SpecReplicas(d);
    const Json& st = d.status();
    return apps::Int(st, "observedGeneration", 0) >= d.generation() && apps::Int(st, "updatedReplicas", -1) == want &&
           apps::Int(st, "replicas", -1) == want && apps::Int(st, "availableReplicas", -1) == want &&
           ConditionReason(d, "Progressing") == "True/NewReplicaSetAvailable" &&
           static_cast<int64_t>(ActivePods().size()) == want;
  }

  void SetImage(const std::string& image, const std::string& name = "web") {
    Modify(DeploymentKind(), name, [&](Object& o) {
      o.json()["spec"]["template"]["spec"]["containers"][0]["image"] = image;
    });
  }
};

TEST_F(DeploymentTest, CreatesAReplicaSetNamedByThePodTemplateHash) {
  StartControllers();
  Object d = MakeDeployment("web", 3, "bosun.test/web:1");
  ASSERT_TRUE(client().Create(d).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut(); })) << Deployment().status().dump();

  const std::string hash = apps::PodTemplateHash(d.spec()["template"], std::nullopt);
  std::vector<Object> sets = ReplicaSets();
  ASSERT_THAT(sets, SizeIs(1));
  const Object& rs = sets[0];
  EXPECT_EQ(rs.name(), "web-" + hash);
  EXPECT_EQ(rs.label(apps::kPodTemplateHashLabel).value_or(""), hash);
  EXPECT_EQ(rs.spec()["selector"]["matchLabels"][apps::kPodTemplateHashLabel], hash);
  EXPECT_EQ(rs.spec()["template"]["metadata"]["labels"][apps::kPodTemplateHashLabel], hash);
  EXPECT_EQ(rs.annotation(apps::kRevisionAnnotation).value_or(""), "1");
  EXPECT_EQ(rs.controller_ref()->uid, Deployment().uid());
  EXPECT_TRUE(rs.controller_ref()->block_owner_deletion);
  for (const Object& p : ActivePods()) {
    EXPECT_EQ(p.label(apps::kPodTemplateHashLabel).value_or(""), hash) << p.name();
    EXPECT_EQ(p.name().rfind("web-" + hash + "-", 0), 0u) << p.name();
  }
  Object cur = Deployment();
  EXPECT_EQ(ConditionReason(cur, "Available"), "True/MinimumReplicasAvailable");
  EXPECT_EQ(apps::Str(*apps::FindCondition(cur.status(), "Progressing"), "message"),
            "ReplicaSet \"web-" + hash + "\" has successfully progressed.");
  EXPECT_EQ(apps::Int(cur.status(), "readyReplicas", -1), 3);
  EXPECT_EQ(apps::Int(cur.status(), "unavailableReplicas", -1), 0);
  mgr_->events().Flush();
  EXPECT_THAT(EventMessages("web", "ScalingReplicaSet"), Contains("Scaled up replica set web-" + hash + " to 3"));
}

// A rolling update of 4 replicas, sampled at every change of any pod: the
// ready pods never drop below replicas - maxUnavailable, all pods never
// exceed replicas + maxSurge.
struct Bounds {
  Json rolling_update;
  int max_total;
  int min_ready;
};

class DeploymentRollingTest : public DeploymentTest, public ::testing::WithParamInterface<Bounds> {};

TEST_P(DeploymentRollingTest, StaysWithinSurgeAndUnavailabilityThroughout) {
  const Bounds& b = GetParam();
  StartControllers();
  Json extra = {{"strategy", {{"type", "RollingUpdate"}}}};
  if (!b.rolling_update.is_null()) extra["strategy"]["rollingUpdate"] = b.rolling_update;
  ASSERT_TRUE(client().Create(MakeDeployment("web", 4, "bosun.test/web:1", extra)).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut(); })) << Dump();

  std::mutex mu;
  int samples = 0, max_total = 0, min_ready = 1 << 30;
  SampleOff sample_off{kubelet_.get()};
  kubelet_->set_sample([&](const TestKubelet::Pods& pods) {
    int total = 0, ready = 0;
    for (const auto& [name, p] : pods) {
      if (!apps::PodActive(p)) continue;
      ++total;
      ready += apps::PodReady(p) ? 1 : 0;
    }
    std::lock_guard<std::mutex> lock(mu);
    ++samples;
    max_total = std::max(max_total, total);
    min_ready = std::min(min_ready, ready);
  });
  SetImage("bosun.test/web:2");
  ASSERT_TRUE(Eventually([&] { return RolledOut() && Image(ReplicaSets().back()) == "bosun.test/web:2"; }))
      << Deployment().status().dump();
  kubelet_->set_sample(nullptr);

  std::lock_guard<std::mutex> lock(mu);
  EXPECT_GE(samples, 12);  // 4 created, 4 readied, 4 deleted at least
  EXPECT_LE(max_total, b.max_total);
  EXPECT_GE(min_ready, b.min_ready);
  for (const Object& p : ActivePods()) EXPECT_EQ(Image(p), "bosun.test/web:2");
  std::vector<Object> sets = ReplicaSets();
  ASSERT_THAT(sets, SizeIs(2));
  EXPECT_EQ(apps::SpecReplicas(sets[0]), 0);
  EXPECT_EQ(sets[1].annotation(apps::kRevisionAnnotation).value_or(""), "2");
}

INSTANTIATE_TEST_SUITE_P(
    DeploymentRolling, DeploymentRollingTest,
    ::testing::Values(Bounds{nullptr, 5, 3},                                                  // 25%/25% of 4: 1 and 1
                      Bounds{{{"maxSurge", 2}, {"maxUnavailable", 0}}, 6, 4},                // surge only
                      Bounds{{{"maxSurge", 0}, {"maxUnavailable", "50%"}}, 4, 2},            // unavailable only
                      Bounds{{{"maxSurge", "30%"}, {"maxUnavailable", "30%"}}, 6, 3}));      // 1.2 → 2 up, 1 down

TEST_F(DeploymentTest, RecreateNeverRunsOldAndNewPodsTogether) {
  StartControllers();
  ASSERT_TRUE(client().Create(MakeDeployment("web", 3, "bosun.test/web:1", {{"strategy", {{"type", "Recreate"}}}})).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut(); })) << Dump();

  std::atomic<bool> mixed{false};
  std::atomic<int> max_total{0};
  SampleOff sample_off{kubelet_.get()};
  kubelet_->set_sample([&](const TestKubelet::Pods& pods) {
    std::set<std::string> images;
    int total = 0;
    for (const auto& [name, p] : pods) {
      if (!apps::PodActive(p)) continue;
      images.insert(Image(p));
      ++total;
    }
    if (images.size() > 1) mixed = true;
    max_total = std::max(max_total.load(), total);
  });
  SetImage("bosun.test/web:2");
  ASSERT_TRUE(Eventually([&] { return RolledOut() && Image(ActivePods()[0]) == "bosun.test/web:2"; }));
  kubelet_->set_sample(nullptr);
  EXPECT_FALSE(mixed.load());
  EXPECT_LE(max_total.load(), 3);
}

TEST_F(DeploymentTest, ARolloutThatNeverBecomesReadyExceedsItsProgressDeadline) {
  StartControllers();
  kubelet_->set_never_ready([](const Object& pod) { return Image(pod) == "bosun.test/broken:1"; });
  ASSERT_TRUE(client().Create(MakeDeployment("web", 2, "bosun.test/web:1", {{"progressDeadlineSeconds", 2}})).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut(); })) << Dump();
  SetImage("bosun.test/broken:1");
  ASSERT_TRUE(Eventually([&] { return ConditionReason(Deployment(), "Progressing") == "False/ProgressDeadlineExceeded"; },
                         10s))
      << Deployment().status().dump();
  Object d = Deployment();
  std::string new_rs = ReplicaSets().back().name();
  EXPECT_EQ(apps::Str(*apps::FindCondition(d.status(), "Progressing"), "message"),
            "ReplicaSet \"" + new_rs + "\" has timed out progressing.");
  // 25% of 2: surge 1, unavailable 0 — the old pods all stay.
  EXPECT_EQ(ConditionReason(d, "Available"), "True/MinimumReplicasAvailable");
  EXPECT_EQ(apps::Int(d.status(), "availableReplicas", -1), 2);
  EXPECT_EQ(apps::Int(d.status(), "updatedReplicas", -1), 1);
  mgr_->events().Flush();
  EXPECT_THAT(EventMessages("web", "ProgressDeadlineExceeded"), SizeIs(1));
}

TEST_F(DeploymentTest, PauseStopsTheRolloutAndResumeFinishesIt) {
  StartControllers();
  ASSERT_TRUE(client().Create(MakeDeployment("web", 2, "bosun.test/web:1")).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut(); })) << Dump();
  Modify(DeploymentKind(), "web", [](Object& o) {
    o.json()["spec"]["paused"] = true;
    o.json()["spec"]["template"]["spec"]["containers"][0]["image"] = "bosun.test/web:2";
    o.json()["spec"]["replicas"] = 3;  // scaling still happens
  });
  // Once the controller has seen the paused spec it has scaled, and done
  // nothing else.
  ASSERT_TRUE(Eventually([&] {
    Object d = Deployment();
    return apps::Int(d.status(), "observedGeneration", 0) == d.generation() &&
           ConditionReason(d, "Progressing") == "Unknown/DeploymentPaused" && ActivePods().size() == 3;
  })) << Deployment().status().dump();
  ASSERT_THAT(ReplicaSets(), SizeIs(1));
  for (const Object& p : ActivePods()) EXPECT_EQ(Image(p), "bosun.test/web:1");

  Modify(DeploymentKind(), "web", [](Object& o) { o.json()["spec"]["paused"] = false; });
  ASSERT_TRUE(Eventually([&] { return RolledOut() && Image(ActivePods()[0]) == "bosun.test/web:2"; }));
  EXPECT_THAT(ReplicaSets(), SizeIs(2));
}

TEST_F(DeploymentTest, RevisionHistoryLimitDeletesTheOldestReplicaSets) {
  StartControllers();
  ASSERT_TRUE(client().Create(MakeDeployment("web", 1, "bosun.test/web:1", {{"revisionHistoryLimit", 1}})).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut(); })) << Dump();
  for (const char* image : {"bosun.test/web:2", "bosun.test/web:3"}) {
    SetImage(image);
    ASSERT_TRUE(Eventually([&] { return RolledOut() && Image(ActivePods()[0]) == image; }));
  }
  // The new one and one old one (revision 2) stay; revision 1 goes.
  ASSERT_TRUE(Eventually([&] { return ReplicaSets().size() == 2; })) << ReplicaSets().size();
  std::vector<Object> sets = ReplicaSets();
  EXPECT_EQ(sets[0].annotation(apps::kRevisionAnnotation).value_or(""), "2");
  EXPECT_EQ(Image(sets[0]), "bosun.test/web:2");
  EXPECT_EQ(sets[1].annotation(apps::kRevisionAnnotation).value_or(""), "3");

  // Going back to an old template reuses its ReplicaSet, with the next revision.
  SetImage("bosun.test/web:2");
  ASSERT_TRUE(Eventually([&] { return RolledOut() && Image(ActivePods()[0]) == "bosun.test/web:2"; }));
  sets = ReplicaSets();
  ASSERT_THAT(sets, SizeIs(2));
  EXPECT_EQ(Image(sets[1]), "bosun.test/web:2");
  EXPECT_EQ(sets[1].annotation(apps::kRevisionAnnotation).value_or(""), "4");
}

TEST_F(DeploymentTest, ScalesInPlaceWithoutANewReplicaSet) {
  StartControllers();
  ASSERT_TRUE(client().Create(MakeDeployment("web", 2, "bosun.test/web:1")).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut(); })) << Dump();
  const std::string rs = ReplicaSets()[0].name();
  for (int n : {5, 1}) {
    Modify(DeploymentKind(), "web", [n](Object& o) { o.json()["spec"]["replicas"] = n; });
    ASSERT_TRUE(Eventually([&] { return RolledOut() && ActivePods().size() == static_cast<size_t>(n); }));
    ASSERT_THAT(ReplicaSets(), SizeIs(1));
    EXPECT_EQ(apps::SpecReplicas(ReplicaSets()[0]), n);
  }
  mgr_->events().Flush();
  auto scaling = EventMessages("web", "ScalingReplicaSet");
  EXPECT_THAT(scaling, Contains("Scaled up replica set " + rs + " to 5"));
  EXPECT_THAT(scaling, Contains("Scaled down replica set " + rs + " to 1"));
}

TEST_F(DeploymentTest, ScalingInTheMiddleOfARolloutIsSpreadProportionally) {
  StartControllers();
  kubelet_->set_never_ready([](const Object& pod) { return Image(pod) == "bosun.test/broken:1"; });
  Json extra = {{"strategy", {{"rollingUpdate", {{"maxSurge", 3}, {"maxUnavailable", 2}}}}}};
  ASSERT_TRUE(client().Create(MakeDeployment("web", 10, "bosun.test/web:1", extra)).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut(); })) << Dump();
  SetImage("bosun.test/broken:1");
  // Stuck: the old one at 8 (10 - 2 unavailable), the new one at 5 (13 in all).
  ASSERT_TRUE(Eventually([&] {
    auto s = ReplicaSets();
    return s.size() == 2 && apps::SpecReplicas(s[0]) == 8 && apps::SpecReplicas(s[1]) == 5;
  })) << ReplicaSets().size();
  Modify(DeploymentKind(), "web", [](Object& o) { o.json()["spec"]["replicas"] = 20; });
  // 10 more (+ surge 3 → 23 allowed): 8 * 23 / 13 = 14, and the rest (9) to the new one.
  ASSERT_TRUE(Eventually([&] {
    auto s = ReplicaSets();
    return s.size() == 2 && apps::SpecReplicas(s[0]) + apps::SpecReplicas(s[1]) == 23 &&
           apps::SpecReplicas(s[0]) == 14;
  })) << apps::SpecReplicas(ReplicaSets()[0]) << "+" << apps::SpecReplicas(ReplicaSets()[1]);
}

TEST(DeploymentUtilTest, ResolvesSurgeRoundingUpAndUnavailableRoundingDown) {
  auto resolve = [](int replicas, const Json& ru) {
    Object d = MakeDeployment("web", replicas, "x", {{"strategy", {{"type", "RollingUpdate"}, {"rollingUpdate", ru}}}});
    auto s = apps::ResolveStrategy(d);
    EXPECT_TRUE(s.ok());
    return std::make_pair(s->max_surge, apps::MaxUnavailable(d, *s));
  };
  EXPECT_EQ(resolve(4, Json::object()), std::make_pair(1, 1));  // defaults 25%/25%
  EXPECT_EQ(resolve(10, Json::object()), std::make_pair(3, 2));
  EXPECT_EQ(resolve(2, Json::object()), std::make_pair(1, 0));
  EXPECT_EQ(resolve(10, {{"maxSurge", "0%"}, {"maxUnavailable", "5%"}}), std::make_pair(0, 1));  // 0/0 → 1
  EXPECT_EQ(resolve(3, {{"maxSurge", 2}, {"maxUnavailable", 5}}), std::make_pair(2, 3));          // at most replicas
  Object recreate = MakeDeployment("web", 4, "x", {{"strategy", {{"type", "Recreate"}}}});
  auto s = apps::ResolveStrategy(recreate);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(apps::MaxSurge(*s), 0);
  EXPECT_EQ(apps::MaxUnavailable(recreate, *s), 0);
}

TEST(DeploymentUtilTest, TemplateHashIsStableSafeAndChangesWithTheTemplateOrCollisions) {
  Json a = PodTemplate("web", "bosun.test/web:1");
  const std::string h = apps::PodTemplateHash(a, std::nullopt);
  EXPECT_EQ(h, apps::PodTemplateHash(Json::parse(a.dump()), std::nullopt));
  EXPECT_EQ(h.find_first_not_of("bcdfghjklmnpqrstvwxz2456789"), std::string::npos) << h;
  EXPECT_NE(h, apps::PodTemplateHash(PodTemplate("web", "bosun.test/web:2"), std::nullopt));
  EXPECT_NE(h, apps::PodTemplateHash(a, 1));
  Json labelled = a;
  labelled["metadata"]["labels"][apps::kPodTemplateHashLabel] = h;
  EXPECT_TRUE(apps::EqualIgnoreHash(a, labelled));
  EXPECT_FALSE(apps::EqualIgnoreHash(a, PodTemplate("web", "bosun.test/web:2")));
}

// `bosun rollout status` as a user runs it, against the in-process API.
class DeploymentRolloutStatusTest : public DeploymentTest {
 protected:
  test::Outcome Rollout(const std::string& args) {
    std::string token = dir_.Write("token", api_->token() + "\n");
    return test::RunCommand(std::string(BOSUN_BINARY) + " rollout status " + args + " --server " + api_->url() +
                            " --token-file " + token);
  }
};

TEST_F(DeploymentRolloutStatusTest, WaitsForTheRolloutAndExitsZero) {
  StartControllers();
  kubelet_->Hold(true);  // pods stay unready until released below
  ASSERT_TRUE(client().Create(MakeDeployment("web", 2, "bosun.test/web:1")).ok());
  ASSERT_TRUE(Eventually([&] { return ActivePods().size() == 2; }));
  std::thread release([&] {
    std::this_thread::sleep_for(500ms);  // lets the command start waiting first
    for (const Object& p : ActivePods()) (void)kubelet_->MakeReady(p.name());
  });
  test::Outcome out = Rollout("web --timeout 20s");
  release.join();
  EXPECT_EQ(out.exit_code, 0) << out.out;
  EXPECT_THAT(out.out, HasSubstr("Waiting for deployment \"web\" rollout to finish: 0 of 2 updated replicas are available..."));
  EXPECT_THAT(out.out, HasSubstr("deployment \"web\" successfully rolled out"));

  // Already rolled out: at once, and deployment/NAME is understood.
  out = Rollout("deployment/web");
  EXPECT_EQ(out.exit_code, 0) << out.out;
  EXPECT_EQ(out.out, "deployment \"web\" successfully rolled out\n");
}

TEST_F(DeploymentRolloutStatusTest, FailsOnProgressDeadlineTimeoutAndMissingDeployment) {
  StartControllers();
  kubelet_->Hold(true);
  ASSERT_TRUE(client().Create(MakeDeployment("web", 1, "bosun.test/web:1", {{"progressDeadlineSeconds", 2}})).ok());
  ASSERT_TRUE(Eventually([&] { return ActivePods().size() == 1; }));

  test::Outcome out = Rollout("web --watch=false");
  EXPECT_EQ(out.exit_code, 0) << out.out;
  EXPECT_THAT(out.out, HasSubstr("Waiting for deployment \"web\" rollout to finish"));

  out = Rollout("web --timeout 300ms");
  EXPECT_EQ(out.exit_code, 1) << out.out;
  EXPECT_THAT(out.out, HasSubstr("error: timed out waiting for the condition"));

  out = Rollout("web --timeout 20s");
  EXPECT_EQ(out.exit_code, 1) << out.out;
  EXPECT_THAT(out.out, HasSubstr("error: deployment \"web\" exceeded its progress deadline"));

  out = Rollout("nothere");
  EXPECT_EQ(out.exit_code, 1) << out.out;
  EXPECT_THAT(out.out, HasSubstr("not found"));
  out = Rollout("service/web");
  EXPECT_EQ(out.exit_code, 2) << out.out;
}

}  // namespace
}  // namespace bosun::reconciler::appstest
