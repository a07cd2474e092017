// Revision health and the revert decision (reconciler/revision_health.h)
// against a real API: Deployments, Jobs and pods are written by the test as
// their controllers and nodes would; the Git revert is a recording fake here
// (the real one: tests/gitsync/revert_test.cc, and end to end in
// tests/reconciler/rollback_e2e_test.cc).
#include "reconciler/revision_health.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/kinds.h"
#include "reconciler/controller.h"
#include "reconciler/plan.h"
#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::reconciler {
namespace {

using namespace std::chrono_literals;
using test::Eventually;

const std::string kCommit = "1111111111111111111111111111111111111111";

// A pod whose container runs, as its node reports it: started at `started`,
// after `restarts` restarts.
Json RunningSince(WallTime started, int restarts) {
  return {
      {"phase", "Running"},
      {"containerStatuses", Json::array({{{"name", "app"},
                                          {"ready", true},
                                          {"restartCount", restarts},
                                          {"state", {{"running", {{"startedAt", FormatRfc3339Millis(started)}}}}}}})}};
}

class RevisionHealthTest : public ::testing::Test {
 protected:
  RevisionHealthTest() : api_(dir_.path()) {}

  void SetUp() override {
    api_.CreateNamespaces({"shop"});
    Object repo(GroupVersionKind{"bosun.dev", "v1", "GitRepository"}, "", "default");
    repo.json()["spec"] = {{"url", "file:///srv/app.git"}, {"ref", "main"}};
    auto r = api_.client().Create(repo);
    ASSERT_TRUE(r) << r.error().message();
    r->json()["status"] = {{"liveRevision", kCommit},
                           {"liveRevisionName", "00000002"},
                           {"syncConfig", {{"autoRevert", auto_revert_}}}};
    ASSERT_TRUE(api_.client().UpdateStatus(*r));
  }

  void StartManager() {
    RevisionHealthOptions o;
    o.recheck = 200ms;
    o.recover_after = recover_after_;
    o.healthy_after = healthy_after_;
    o.watch_after_healthy = watch_after_healthy_;
    o.revert = [this](const std::string& commit, const std::string& back_to,
                      const std::string& reason) -> Result<RevertOutcome> {
      std::lock_guard<std::mutex> lock(mu_);
      reverts_.push_back({commit, reason});
      back_tos_.push_back(back_to);
      if (revert_conflicts_) return Error(Code::kConflict, "the revert conflicts in web/deploy.yaml");
      if (revert_not_needed_) {
        return Error(Code::kAlreadyExists,
                     "the branch head 3333333 already undoes it (the revert would change "
                     "nothing); nothing was pushed");
      }
      if (revert_unreachable_ > 0) {
        --revert_unreachable_;
        return Error(Code::kUnavailable, "cannot push the revert: connection refused");
      }
      // As gitsync does with an ancestor: two commits reverted back to it.
      if (!back_to.empty()) return RevertOutcome{"2222222222222222222222222222222222222222", 1, false, back_to, 2};
      return RevertOutcome{"2222222222222222222222222222222222222222", 1, false, "", 1};
    };
    o.trigger_sync = [this] { ++syncs_; };
    mgr_ = std::make_unique<ControllerManager>(&api_.client(), &Clock::System());
    ASSERT_TRUE(AddRevisionHealthController(*mgr_, o));
    ASSERT_TRUE(mgr_->Start());
  }
  void TearDown() override {
    if (mgr_) mgr_->Stop();
  }

  // The live revision record, as the sync controller leaves it after applying.
  void Revision(const Json& objects, const std::string& reverts = "", bool first_commit = false,
                const Json& more_status = Json::object()) {
    Object rec(GroupVersionKind{"bosun.dev", "v1", "Revision"}, "", "00000002");
    rec.json()["spec"] = {{"sequence", 2}, {"commit", kCommit}, {"message", "web: v2"}};
    rec.json()["spec"]["parents"] = first_commit ? Json::array() : Json::array({std::string(40, '0')});
    if (!reverts.empty()) rec.json()["spec"]["reverts"] = reverts;
    auto r = api_.client().Create(rec);
    ASSERT_TRUE(r) << r.error().message();
    r->json()["status"] = {{"phase", "Applied"}, {"objects", objects}};
    r->json()["status"].update(more_status);
    ASSERT_TRUE(api_.client().UpdateStatus(*r));
  }

  // Another record (not the fixture's 00000002), Applied, that touched `objects`.
  void OtherRevision(const std::string& name, const std::string& commit, const Json& objects) {
    Object rec(GroupVersionKind{"bosun.dev", "v1", "Revision"}, "", name);
    rec.json()["spec"] = {{"sequence", std::stoi(name)}, {"commit", commit}, {"message", "another"}};
    rec.json()["spec"]["parents"] = Json::array({kCommit});
    auto r = api_.client().Create(rec);
    ASSERT_TRUE(r) << r.error().message();
    r->json()["status"] = {{"phase", "Applied"}, {"objects", objects}};
    ASSERT_TRUE(api_.client().UpdateStatus(*r));
  }

  // The GitRepository as the sync leaves it once `name` (`commit`) went live
  // with its objects written at `resource_version`; `head`: what was fetched.
  void SetLive(const std::string& name, const std::string& commit, const std::string& resource_version,
               const std::string& head) {
    const KindInfo& k = *KindRegistry::Builtin().FindKind("GitRepository");
    auto r = api_.client().Get(k, "", "default");
    ASSERT_TRUE(r) << r.error().message();
    r->json()["status"]["liveRevisionName"] = name;
    r->json()["status"]["liveRevision"] = commit;
    r->json()["status"]["liveResourceVersion"] = resource_version;
    r->json()["status"]["head"] = head;
    ASSERT_TRUE(api_.client().UpdateStatus(*r));
  }

  // The Deployment as the revision `commit` wrote it (the sync marks what it
  // writes with the commit), with `status` as its controller reports it.
  Object Deployment(int replicas, const Json& status, const std::string& commit = kCommit) {
    Object d(GroupVersionKind{"apps", "v1", "Deployment"}, "shop", "web");
    d.set_annotation(kRevisionAnnotation, commit);
    d.json()["spec"] = {{"replicas", replicas},
                        {"selector", {{"matchLabels", {{"app", "web"}}}}},
                        {"template",
                         {{"metadata", {{"labels", {{"app", "web"}}}}},
                          {"spec", {{"containers", Json::array({{{"name", "app"}, {"image", "web:2"}}})}}}}}};
    auto r = api_.client().Create(d);
    EXPECT_TRUE(r) << r.error().message();
    r->json()["status"] = status;
    r->json()["status"]["observedGeneration"] = r->generation();
    auto w = api_.client().UpdateStatus(*r);
    EXPECT_TRUE(w) << w.error().message();
    return *w;
  }

  // The Deployment as commit `commit` rewrote it, with pod template image
  // `image`; what the API returned.
  Object RewriteDeployment(const std::string& commit, const std::string& image) {
    const KindInfo& k = *KindRegistry::Builtin().FindKind("Deployment");
    auto cur = api_.client().Get(k, "shop", "web");
    EXPECT_TRUE(cur);
    if (!cur) return Object();
    cur->set_annotation(kRevisionAnnotation, commit);
    cur->json()["spec"]["template"]["spec"]["containers"][0]["image"] = image;
    auto w = api_.client().Update(*cur);
    EXPECT_TRUE(w) << w.error().message();
    return w ? *w : Object();
  }

  void SetRecordPhase(const std::string& name, const std::string& phase) {
    auto r = api_.client().Get(*KindRegistry::Builtin().FindKind("Revision"), "", name);
    ASSERT_TRUE(r) << r.error().message();
    r->json()["status"]["phase"] = phase;
    ASSERT_TRUE(api_.client().UpdateStatus(*r));
  }

  void SetDeploymentStatus(const Json& status) {
    const KindInfo& k = *KindRegistry::Builtin().FindKind("Deployment");
    auto d = api_.client().Get(k, "shop", "web");
    ASSERT_TRUE(d);
    d->json()["status"] = status;
    d->json()["status"]["observedGeneration"] = d->generation();
    ASSERT_TRUE(api_.client().UpdateStatus(*d));
  }

  // The GitRepository's status.liveResourceVersion: the store revision the
  // sync wrote the live revision's objects at.
  void SetAppliedAt(const std::string& resource_version) {
    const KindInfo& k = *KindRegistry::Builtin().FindKind("GitRepository");
    auto r = api_.client().Get(k, "", "default");
    ASSERT_TRUE(r) << r.error().message();
    r->json()["status"]["liveResourceVersion"] = resource_version;
    ASSERT_TRUE(api_.client().UpdateStatus(*r));
  }

  void DeleteDeployment() {
    auto r = api_.client().Delete(*KindRegistry::Builtin().FindKind("Deployment"), "shop", "web");
    ASSERT_TRUE(r) << r.error().message();
  }

  Json RecordStatus() {
    auto r = api_.client().Get(*KindRegistry::Builtin().FindKind("Revision"), "", "00000002");
    return r ? r->json().value("status", Json::object()) : Json::object();
  }
  bool PhaseIs(const std::string& p) {
    return Eventually([&] { return RecordStatus().value("phase", "") == p; });
  }

  static Object NewReplicaSet(const Object& d, const std::string& name, const std::string& revision) {
    Object rs(GroupVersionKind{"apps", "v1", "ReplicaSet"}, "shop", name);
    rs.json()["metadata"]["annotations"] = {{"deployment.kubernetes.io/revision", revision}};
    rs.json()["metadata"]["ownerReferences"] = Json::array(
        {{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}, {"uid", d.uid()}, {"controller", true}}});
    rs.json()["spec"] = {{"replicas", 1},
                         {"selector", {{"matchLabels", {{"app", "web"}}}}},
                         {"template", d.json()["spec"]["template"]}};
    return rs;
  }

  // A pod of ReplicaSet `rs` (its template's spec), as its controller makes
  // it, with `status` as its node reports it.
  void PodOf(const Object& rs, const std::string& name, const Json& status) {
    Object pod(GroupVersionKind{"", "v1", "Pod"}, "shop", name);
    pod.json()["metadata"]["ownerReferences"] = Json::array({{{"apiVersion", "apps/v1"},
                                                               {"kind", "ReplicaSet"},
                                                               {"name", rs.name()},
                                                               {"uid", rs.uid()},
                                                               {"controller", true}}});
    pod.json()["spec"] = rs.json()["spec"]["template"]["spec"];
    auto p = api_.client().Create(pod);
    ASSERT_TRUE(p) << p.error().message();
    p->json()["status"] = status;
    ASSERT_TRUE(api_.client().UpdateStatus(*p));
  }

  // A rolled-out Deployment whose new ReplicaSet's one pod (web-new-a) has
  // run for 30 s, and the revision that wrote it.
  void RolledOutWithARunningPod() {
    Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 1}});
    auto rs = api_.client().Create(NewReplicaSet(d, "web-new", "1"));
    ASSERT_TRUE(rs) << rs.error().message();
    PodOf(*rs, "web-new-a", RunningSince(Clock::System().Now() - 30s, 0));
    Revision(Touched("Deployment", "web"));
  }
  // Pod `name` now crash-looping: 3 restarts, waiting in CrashLoopBackOff,
  // its last run ended with `exit_code` (and `reason`, when given).
  void CrashLooping(const std::string& name, int exit_code, const std::string& reason = "") {
    auto pod = api_.client().Get(*KindRegistry::Builtin().FindKind("Pod"), "shop", name);
    ASSERT_TRUE(pod);
    Json terminated = {{"exitCode", exit_code}};
    if (!reason.empty()) terminated["reason"] = reason;
    pod->json()["status"] = {
        {"phase", "Running"},
        {"containerStatuses", Json::array({{{"name", "app"},
                                            {"restartCount", 3},
                                            {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
                                            {"lastState", {{"terminated", terminated}}}}})}};
    ASSERT_TRUE(api_.client().UpdateStatus(*pod));
  }
  // A crash loop of pod `name` now changes nothing: the revision stays
  // Healthy and is not reverted.
  void CrashLoopLeavesItHealthy(const std::string& name) {
    ASSERT_NO_FATAL_FAILURE(CrashLooping(name, 1));
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(RecordStatus().value("phase", ""), "Healthy") << RecordStatus().dump();
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_TRUE(reverts_.empty());
  }

  // A pod of `rs` whose image cannot be pulled.
  void PullFailingPodOf(const Object& rs, const std::string& name) {
    PodOf(rs, name,
          {{"phase", "Pending"},
           {"containerStatuses",
            Json::array({{{"name", "app"}, {"state", {{"waiting", {{"reason", "ImagePullBackOff"}}}}}}})}});
  }

  // `bosun suspend` / `bosun resume`: the GitRepository's spec.suspend.
  void Suspend(bool on) {
    const KindInfo& repo_kind = *KindRegistry::Builtin().FindKind("GitRepository");
    auto p = api_.client().Patch(repo_kind, "", "default", {{"spec", {{"suspend", on ? Json(true) : Json(nullptr)}}}});
    ASSERT_TRUE(p) << p.error().message();
  }

  // The live revision's Deployment exceeds its deadline: the revision turns
  // Degraded, and (for the case at hand) is not reverted.
  void DegradedAndNotReverted() {
    Deployment(
        1, {{"replicas", 1},
            {"conditions",
             Json::array({{{"type", "Progressing"}, {"status", "False"}, {"reason", "ProgressDeadlineExceeded"}}})}});
    Revision(Touched("Deployment", "web"));
    StartManager();
    ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
    std::this_thread::sleep_for(500ms);
    EXPECT_FALSE(RecordStatus().contains("revert")) << RecordStatus().dump();
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_TRUE(reverts_.empty());
  }

  // Revision 00000002 Degraded (its Deployment past its deadline, `status`
  // more of its record) and 00000003 live since: the health controller
  // started and its note that 2 is left to a person written. The
  // Deployment as written.
  Object LeftToAPerson(const Json& status) {
    Object d = Deployment(1, DeadlineExceeded());
    Json st = {{"phase", "Degraded"}, {"reason", "ProgressDeadlineExceeded"}};
    st.update(status);
    Revision(Touched("Deployment", "web"), "", false, st);
    OtherRevision("00000003", std::string(40, '3'), Json::array());
    SetLive("00000003", std::string(40, '3'), d.resource_version(), std::string(40, '3'));
    StartManager();
    EXPECT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
    return d;
  }
  static Json DeadlineExceeded() {
    return {{"replicas", 1},
            {"conditions",
             Json::array({{{"type", "Progressing"}, {"status", "False"}, {"reason", "ProgressDeadlineExceeded"}}})}};
  }

  static Json Touched(const std::string& kind, const std::string& name) {
    return Json::array({{{"action", "updated"}, {"kind", kind}, {"namespace", "shop"}, {"name", name}}});
  }

  test::TempDir dir_;
  test::InProcessApi api_;
  const bool auto_revert_ = true;
  bool revert_conflicts_ = false;
  bool revert_not_needed_ = false;
  int revert_unreachable_ = 0;  // so many reverts fail first as if the remote were down
  std::chrono::milliseconds recover_after_ = 60s;
  std::chrono::milliseconds healthy_after_ = 10s;
  std::chrono::milliseconds watch_after_healthy_ = 10min;
  std::unique_ptr<ControllerManager> mgr_;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> reverts_;
  std::vector<std::string> back_tos_;  // what each revert was asked to go back to
  std::atomic<int> syncs_{0};
};

TEST_F(RevisionHealthTest, ARolledOutDeploymentMakesTheRevisionHealthy) {
  Deployment(3, {{"replicas", 3}, {"updatedReplicas", 1}, {"availableReplicas", 2}});
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"], "waiting for deployment shop/web: 1/3 updated, 2 available");
  SetDeploymentStatus({{"replicas", 3}, {"updatedReplicas", 3}, {"availableReplicas", 3}});
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["reason"], "RolledOut");
  EXPECT_TRUE(RecordStatus().contains("healthyAt"));
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(reverts_.empty());
}

// Without a readiness probe a container is available the moment it starts:
// a crash loop looks rolled out between its restarts. The revision is
// Healthy only once the new pods have stayed up for healthy_after.
TEST_F(RevisionHealthTest, NewPodsMustStayUpBeforeTheRevisionIsHealthy) {
  healthy_after_ = 1500ms;
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 1}});
  auto rs = api_.client().Create(NewReplicaSet(d, "web-new", "1"));
  ASSERT_TRUE(rs) << rs.error().message();
  PodOf(*rs, "web-new-a", RunningSince(Clock::System().Now(), 0));
  const auto since = std::chrono::steady_clock::now();
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  EXPECT_TRUE(std::regex_match(RecordStatus().value("message", ""),
                               std::regex("waiting for deployment shop/web: container app of pod shop/web-new-a has "
                                          "run [01]s of the 1.5s it must stay up")))
      << RecordStatus().dump();
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  EXPECT_GE(std::chrono::steady_clock::now() - since, 1500ms);
}

// A rollout whose new pods run but never get ready says why: the node's
// readiness probe failure, from the pod's Ready condition. And a crash loop
// of an OOM-killed container says OOMKilled, not only its exit code.
TEST_F(RevisionHealthTest, AWaitingRolloutNamesTheReadinessFailureAndACrashLoopItsOom) {
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 0}});
  auto rs = api_.client().Create(NewReplicaSet(d, "web-new", "1"));
  ASSERT_TRUE(rs) << rs.error().message();
  Json st = RunningSince(Clock::System().Now(), 0);
  st["conditions"] = Json::array({{{"type", "Ready"},
                                   {"status", "False"},
                                   {"reason", "ContainersNotReady"},
                                   {"message",
                                    "containers with unready status: [app]; app: Readiness probe failed: "
                                    "HTTP probe failed with statuscode: 404"}}});
  PodOf(*rs, "web-new-a", st);
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"],
            "waiting for deployment shop/web: 1/1 updated, 0 available; pod shop/web-new-a, container app: Readiness "
            "probe failed: HTTP probe failed with statuscode: 404");

  ASSERT_NO_FATAL_FAILURE(CrashLooping("web-new-a", 137, "OOMKilled"));
  ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"],
            "container app of pod shop/web-new-a is crash-looping (OOMKilled, exit code 137, 3 restarts)");
}

// A worker that fails after a few batches: up past healthy_after, so the
// revision went Healthy, then crash-looping. Still its failure while the
// live revision is watched (watch_after_healthy): Degraded and reverted.
// Once the watch is over, a crash loop is the running system's.
TEST_F(RevisionHealthTest, ACrashLoopSoonAfterTheRevisionWentHealthyDegradesAndRevertsIt) {
  healthy_after_ = 0ms;
  ASSERT_NO_FATAL_FAILURE(RolledOutWithARunningPod());
  StartManager();
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  const std::string healthy_at = RecordStatus().value("healthyAt", "");
  ASSERT_NO_FATAL_FAILURE(CrashLooping("web-new-a", 1));
  ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["reason"], "CrashLoopBackOff");
  EXPECT_EQ(RecordStatus()["message"],
            "container app of pod shop/web-new-a is crash-looping (exit code 1, 3 "
            "restarts) (after it was Healthy at " +
                healthy_at + ")");
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["revert"]["commit"], "2222222222222222222222222222222222222222");
}

// Only a crash loop: a pod that cannot pull its image now (rescheduled to a
// node that cannot) is the node's trouble. And a revision that recovered
// from a Degraded verdict (nothing was reverted) is not watched again, or
// it would turn Degraded and Recovered in turn for ever.
TEST_F(RevisionHealthTest, TheWatchAfterHealthyIsForCrashLoopsOfAFirstVerdictOnly) {
  healthy_after_ = 0ms;
  ASSERT_NO_FATAL_FAILURE(RolledOutWithARunningPod());
  StartManager();
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  auto pod = api_.client().Get(*KindRegistry::Builtin().FindKind("Pod"), "shop", "web-new-a");
  ASSERT_TRUE(pod);
  pod->json()["status"] = {
      {"phase", "Pending"},
      {"containerStatuses",
       Json::array({{{"name", "app"}, {"state", {{"waiting", {{"reason", "ImagePullBackOff"}}}}}}})}};
  ASSERT_TRUE(api_.client().UpdateStatus(*pod));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(RecordStatus().value("phase", ""), "Healthy") << RecordStatus().dump();

  // Recovered once: a crash loop now leaves it as it is.
  auto rec = api_.client().Get(*KindRegistry::Builtin().FindKind("Revision"), "", "00000002");
  ASSERT_TRUE(rec);
  rec->json()["status"]["reason"] = "Recovered";
  rec->json()["status"]["degraded"] = {{"reason", "CrashLoopBackOff"}, {"message", "crash-looping"}};
  ASSERT_TRUE(api_.client().UpdateStatus(*rec));
  CrashLoopLeavesItHealthy("web-new-a");
}

TEST_F(RevisionHealthTest, ACrashLoopAfterTheWatchIsOverLeavesTheRevisionHealthy) {
  healthy_after_ = 0ms;
  watch_after_healthy_ = 300ms;
  ASSERT_NO_FATAL_FAILURE(RolledOutWithARunningPod());
  StartManager();
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  std::this_thread::sleep_for(1500ms);  // healthyAt is in whole seconds
  CrashLoopLeavesItHealthy("web-new-a");
}

// The new pods' times run side by side: two pods up together make the
// revision Healthy after one wait, not one after the other.
TEST_F(RevisionHealthTest, NewPodsStayUpTogether) {
  healthy_after_ = 1500ms;
  Object d = Deployment(2, {{"replicas", 2}, {"updatedReplicas", 2}, {"availableReplicas", 2}});
  auto rs = api_.client().Create(NewReplicaSet(d, "web-new", "1"));
  ASSERT_TRUE(rs) << rs.error().message();
  PodOf(*rs, "web-new-a", RunningSince(Clock::System().Now(), 0));
  PodOf(*rs, "web-new-b", RunningSince(Clock::System().Now(), 0));
  const auto since = std::chrono::steady_clock::now();
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  EXPECT_LT(std::chrono::steady_clock::now() - since, 2900ms) << "the second pod's wait began after the first's";
}

// The same pod crashing: each restart starts the wait again, and once it is
// waiting in CrashLoopBackOff after 3 restarts the revision is Degraded and
// reverted — never Healthy in between.
TEST_F(RevisionHealthTest, ACrashLoopIsNeverHealthyBetweenRestarts) {
  healthy_after_ = 2s;
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 1}});
  auto rs = api_.client().Create(NewReplicaSet(d, "web-new", "1"));
  ASSERT_TRUE(rs) << rs.error().message();
  PodOf(*rs, "web-new-a", RunningSince(Clock::System().Now(), 0));
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  const KindInfo& pk = *KindRegistry::Builtin().FindKind("Pod");
  auto set_pod = [&](const Json& status) {
    auto p = api_.client().Get(pk, "shop", "web-new-a");
    ASSERT_TRUE(p);
    p->json()["status"] = status;
    ASSERT_TRUE(api_.client().UpdateStatus(*p));
  };
  // Between restarts the container waits in CrashLoopBackOff while the
  // Deployment's status (its controllers lag) may still say available: not
  // running is not rolled out.
  for (int restarts = 1; restarts <= 2; ++restarts) {
    std::this_thread::sleep_for(500ms);
    ASSERT_NO_FATAL_FAILURE(
        set_pod({{"phase", "Running"},
                 {"containerStatuses", Json::array({{{"name", "app"},
                                                     {"ready", false},
                                                     {"restartCount", restarts},
                                                     {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}}}})}}));
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(RecordStatus()["phase"], "Progressing") << RecordStatus().dump();
    ASSERT_NO_FATAL_FAILURE(set_pod(RunningSince(Clock::System().Now(), restarts)));
  }
  std::this_thread::sleep_for(800ms);
  EXPECT_EQ(RecordStatus()["phase"], "Progressing") << RecordStatus().dump();
  ASSERT_NO_FATAL_FAILURE(
      set_pod({{"phase", "Running"},
               {"containerStatuses", Json::array({{{"name", "app"},
                                                   {"ready", false},
                                                   {"restartCount", 3},
                                                   {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
                                                   {"lastState", {{"terminated", {{"exitCode", 3}}}}}}})}}));
  ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["reason"], "CrashLoopBackOff");
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["revert"]["automatic"], true);
}

TEST_F(RevisionHealthTest, AProgressDeadlineMakesItDegradedAndItIsRevertedOnce) {
  Object d = Deployment(3, {{"replicas", 4},
                            {"updatedReplicas", 2},
                            {"availableReplicas", 3},
                            {"conditions", Json::array({{{"type", "Progressing"},
                                                         {"status", "False"},
                                                         {"reason", "ProgressDeadlineExceeded"}}})}});
  // The new template's ReplicaSet: 2 pods, 1 available (the old one keeps 2).
  auto rs = api_.client().Create(NewReplicaSet(d, "web-new", "2"));
  ASSERT_TRUE(rs) << rs.error().message();
  rs->json()["status"] = {{"replicas", 2}, {"availableReplicas", 1}};
  ASSERT_TRUE(api_.client().UpdateStatus(*rs));
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
  Json st = RecordStatus();
  EXPECT_EQ(st["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ(st["message"], "progress deadline exceeded for deployment shop/web: 1/3 new replicas available");
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); }));
  st = RecordStatus();
  EXPECT_EQ(st["revert"]["commit"], "2222222222222222222222222222222222222222");
  EXPECT_EQ(st["revert"]["automatic"], true);
  EXPECT_EQ(syncs_.load(), 1);
  // More changes after the revert never revert it again.
  SetDeploymentStatus({{"replicas", 4}, {"updatedReplicas", 0}});
  std::this_thread::sleep_for(500ms);
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(reverts_.size(), 1u);
  EXPECT_EQ(reverts_[0].first, kCommit);
  EXPECT_EQ(reverts_[0].second, "progress deadline exceeded for deployment shop/web: 1/3 new replicas available");
}

// The revision before the degraded one was never judged healthy (commits
// merged together, or one applied over another before its verdict): the
// automatic revert goes back to the newest Healthy revision, undoing every
// commit since, and the record says so. A later Healthy record or one that
// is the commit's own parent is not taken.
TEST_F(RevisionHealthTest, AnAutomaticRevertGoesBackToTheLastHealthyRevision) {
  const std::string healthy(40, 'a');
  OtherRevision("00000001", healthy, Json::array());
  SetRecordPhase("00000001", "Healthy");
  OtherRevision("00000003", std::string(40, 'c'), Json::array());  // newer than the live one
  SetRecordPhase("00000003", "Healthy");
  Deployment(1, DeadlineExceeded());
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  Json st = RecordStatus();
  EXPECT_EQ(st["revert"]["commit"], "2222222222222222222222222222222222222222");
  EXPECT_EQ(st["revert"]["backTo"], Json({{"commit", healthy}, {"commits", 2}, {"revision", "00000001"}})) << st.dump();
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(back_tos_.size(), 1u);
  EXPECT_EQ(back_tos_[0], healthy);
  EXPECT_EQ(reverts_[0].first, kCommit);
}

// Not back across a force-push: the branch the healthy revision was on is
// gone (the degraded revision rewrote it), so its commit alone is reverted.
TEST_F(RevisionHealthTest, AnAutomaticRevertDoesNotGoBackAcrossAForcePush) {
  OtherRevision("00000001", std::string(40, 'a'), Json::array());
  SetRecordPhase("00000001", "Healthy");
  Deployment(1, DeadlineExceeded());
  Revision(Touched("Deployment", "web"));
  const KindInfo& rk = *KindRegistry::Builtin().FindKind("Revision");
  auto rec = api_.client().Get(rk, "", "00000002");
  ASSERT_TRUE(rec);
  rec->json()["spec"]["rewrites"] = std::string(40, 'a');
  ASSERT_TRUE(api_.client().Update(*rec));
  StartManager();
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(back_tos_.size(), 1u);
  EXPECT_EQ(back_tos_[0], "");
}

TEST_F(RevisionHealthTest, AnAutomaticRevertOfTheCommitAfterAHealthyOneIsOfThatCommitAlone) {
  OtherRevision("00000001", std::string(40, '0'), Json::array());  // the live commit's parent
  SetRecordPhase("00000001", "Healthy");
  Deployment(1, DeadlineExceeded());
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  EXPECT_FALSE(RecordStatus()["revert"].contains("backTo")) << RecordStatus().dump();
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(back_tos_.size(), 1u);
  EXPECT_EQ(back_tos_[0], "");
}

// A rollout stuck on something only its pods say (a ConfigMap misspelt in
// the template: FailedMount) names it while it waits and in its Degraded
// verdict, which the revert commit's Bosun-Reason carries: the cause, not
// only a count of replicas.
TEST_F(RevisionHealthTest, AStuckRolloutSaysWhatItsNewPodsAreWaitingFor) {
  Object d = Deployment(2, {{"replicas", 2}, {"updatedReplicas", 1}, {"availableReplicas", 0}});
  auto rs = api_.client().Create(NewReplicaSet(d, "web-new", "2"));
  ASSERT_TRUE(rs) << rs.error().message();
  const std::string why = "configmaps \"web-setings\" not found in namespace \"shop\"";
  ASSERT_NO_FATAL_FAILURE(PodOf(
      *rs, "web-new-x1",
      {{"phase", "Pending"},
       {"reason", "FailedMount"},
       {"message", why},
       {"containerStatuses",
        Json::array(
            {{{"name", "app"}, {"state", {{"waiting", {{"reason", "ContainerCreating"}, {"message", why}}}}}}})}}));
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(Eventually([&] { return RecordStatus().value("message", "").find("FailedMount") != std::string::npos; }))
      << RecordStatus().dump();
  Json st = RecordStatus();
  EXPECT_EQ(st["phase"], "Progressing");
  EXPECT_EQ(st["message"],
            "waiting for deployment shop/web: 1/2 updated, 0 available; pod shop/web-new-x1: "
            "FailedMount: " +
                why);

  SetDeploymentStatus(
      {{"replicas", 2},
       {"updatedReplicas", 1},
       {"conditions",
        Json::array({{{"type", "Progressing"}, {"status", "False"}, {"reason", "ProgressDeadlineExceeded"}}})}});
  ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"],
            "progress deadline exceeded for deployment shop/web: 0/2 new replicas "
            "available; pod shop/web-new-x1: FailedMount: " +
                why);
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mu_);
    return !reverts_.empty();
  }));
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_THAT(reverts_[0].second, ::testing::HasSubstr("FailedMount: " + why));
}

// The remote is down when the revision turns Degraded: the revert is
// retried, and the record says so meanwhile (status.revertPending, one
// RevertPending Event), not only the log; once pushed, the note goes.
TEST_F(RevisionHealthTest, ARevertThatCannotBePushedYetSaysSoWhileItIsRetried) {
  revert_unreachable_ = 10;  // 5 ms doubling: about 5 s of failures
  Deployment(1, DeadlineExceeded());
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revertPending"); })) << RecordStatus().dump();
  Json pending = RecordStatus()["revertPending"];
  EXPECT_EQ(pending["error"], "cannot push the revert: connection refused");
  EXPECT_EQ(pending["automatic"], true);
  EXPECT_FALSE(pending.value("since", "").empty());
  EXPECT_FALSE(RecordStatus().contains("revert"));
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); }, 20s)) << RecordStatus().dump();
  Json st = RecordStatus();
  EXPECT_EQ(st["revert"]["commit"], "2222222222222222222222222222222222222222");
  EXPECT_FALSE(st.contains("revertPending")) << st.dump();
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(reverts_.size(), 11u);
}

// `bosun suspend`: bosun writes nothing to the repository either. A
// revision that turns Degraded meanwhile is reverted once `bosun resume`
// lifts it.
TEST_F(RevisionHealthTest, NoAutomaticRevertWhileSuspendedButOnceResumed) {
  ASSERT_NO_FATAL_FAILURE(Suspend(true));
  ASSERT_NO_FATAL_FAILURE(DegradedAndNotReverted());
  ASSERT_NO_FATAL_FAILURE(Suspend(false));
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(reverts_.size(), 1u);
}

// A newer commit is fetched (a fix pushed while the revision degraded): it
// is applied instead; a revert of the degraded one on top of it would undo
// what the fix relies on.
TEST_F(RevisionHealthTest, NoAutomaticRevertWhenANewerCommitIsFetched) {
  const KindInfo& repo_kind = *KindRegistry::Builtin().FindKind("GitRepository");
  auto repo = api_.client().Get(repo_kind, "", "default");
  ASSERT_TRUE(repo);
  repo->json()["status"]["head"] = std::string(40, '9');
  ASSERT_TRUE(api_.client().UpdateStatus(*repo));
  DegradedAndNotReverted();
}

// Reverting to a ReplicaSet that exists leaves the Deployment's Progressing
// condition at ProgressDeadlineExceeded until its controller sees progress,
// though observedGeneration has moved on: a deadline exceeded before the
// revision was applied is the previous template's, not this revision's.
TEST_F(RevisionHealthTest, ADeadlineExceededBeforeTheRevisionWasAppliedIsNotItsVerdict) {
  const WallTime now = Clock::System().Now();
  Json timed_out = {{"type", "Progressing"},
                    {"status", "False"},
                    {"reason", "ProgressDeadlineExceeded"},
                    {"lastUpdateTime", FormatRfc3339(now - std::chrono::minutes(1))}};
  Deployment(2, {{"replicas", 3}, {"updatedReplicas", 2}, {"availableReplicas", 2},
                 {"conditions", Json::array({timed_out})}});
  Revision(Touched("Deployment", "web"));
  auto rec = api_.client().Get(*KindRegistry::Builtin().FindKind("Revision"), "", "00000002");
  ASSERT_TRUE(rec);
  rec->json()["status"]["appliedAt"] = FormatRfc3339(now);
  ASSERT_TRUE(api_.client().UpdateStatus(*rec));
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  std::this_thread::sleep_for(500ms);  // two rechecks: still waiting, not Degraded
  EXPECT_EQ(RecordStatus().value("phase", ""), "Progressing") << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"], "waiting for deployment shop/web: 2/2 updated, 2 available");

  // An automatic revert is applied within the second the deadline it
  // answers was stamped in (both in whole seconds): still the template's
  // before, not the revert's.
  timed_out["lastUpdateTime"] = FormatRfc3339(now);
  SetDeploymentStatus(
      {{"replicas", 3}, {"updatedReplicas", 2}, {"availableReplicas", 2}, {"conditions", Json::array({timed_out})}});
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(RecordStatus().value("phase", ""), "Progressing") << RecordStatus().dump();

  // The deadline exceeded again after the revision was applied: its own.
  timed_out["lastUpdateTime"] = FormatRfc3339(now + std::chrono::seconds(2));
  SetDeploymentStatus({{"replicas", 3}, {"updatedReplicas", 2}, {"availableReplicas", 2},
                       {"conditions", Json::array({timed_out})}});
  ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["reason"], "ProgressDeadlineExceeded");
}

TEST_F(RevisionHealthTest, ACrashLoopingContainerOfTheNewReplicaSetIsDegradedWithItsExitCode) {
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 0}});
  auto rsw = api_.client().Create(NewReplicaSet(d, "web-abc", "2"));
  ASSERT_TRUE(rsw) << rsw.error().message();
  ASSERT_NO_FATAL_FAILURE(PodOf(*rsw, "web-abc-x1",
                                {{"phase", "Running"},
                                 {"containerStatuses",
                                  Json::array({{{"name", "app"},
                                                {"restartCount", 3},
                                                {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
                                                {"lastState", {{"terminated", {{"exitCode", 7}}}}}}})}}));
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"],
            "container app of pod shop/web-abc-x1 is crash-looping (exit code 7, 3 restarts)");
}

// After a revert the Deployment controller gives the old template's
// ReplicaSet a new revision number; until the cache has seen it, the failing
// ReplicaSet the revert replaces has the highest number. Its pods are not
// the revert's: only the ReplicaSet of the Deployment's current template is
// judged by its pods.
TEST_F(RevisionHealthTest, PodsOfAReplicaSetOfAnotherTemplateDoNotJudgeTheRevision) {
  Object d = Deployment(1, {{"replicas", 2}, {"updatedReplicas", 0}, {"availableReplicas", 1}});
  ASSERT_TRUE(api_.client().Create(NewReplicaSet(d, "web-good", "1")));
  Object bad = NewReplicaSet(d, "web-bad", "2");
  bad.json()["spec"]["template"]["spec"]["containers"][0]["image"] = "web:9.9";
  auto badw = api_.client().Create(bad);
  ASSERT_TRUE(badw) << badw.error().message();
  ASSERT_NO_FATAL_FAILURE(PullFailingPodOf(*badw, "web-bad-x1"));
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  std::this_thread::sleep_for(500ms);  // two rechecks: still waiting, not Degraded
  EXPECT_EQ(RecordStatus().value("phase", ""), "Progressing") << RecordStatus().dump();
  // Rolled out on the current template: healthy.
  SetDeploymentStatus({{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 1}});
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(reverts_.empty());
}

// The record can reach the controller before the Deployment it changed: a
// revert's record judged by the cached Deployment of the revision it undoes
// (its template, its failing pods) was Degraded at once by that revision's
// own failure, and a degraded revert waits for a human. Until the cache has
// the Deployment as this revision wrote it, the revision waits.
TEST_F(RevisionHealthTest, ADeploymentNotYetSeenAsTheRevisionWroteItDoesNotJudgeIt) {
  const std::string bad_commit(40, '3');
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 0}}, bad_commit);
  auto rs = api_.client().Create(NewReplicaSet(d, "web-bad", "2"));
  ASSERT_TRUE(rs) << rs.error().message();
  ASSERT_NO_FATAL_FAILURE(PullFailingPodOf(*rs, "web-bad-x1"));
  Revision(Touched("Deployment", "web"), /*reverts=*/bad_commit);
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"], "waiting for deployment shop/web: this revision's change to it is not in the "
                                       "cache yet");
  std::this_thread::sleep_for(500ms);  // two rechecks: still waiting, not Degraded
  EXPECT_EQ(RecordStatus().value("phase", ""), "Progressing") << RecordStatus().dump();

  // The revision's write arrives (the template of before, rolled out): healthy.
  Object w = RewriteDeployment(kCommit, "web:1");
  ASSERT_FALSE(w.name().empty());
  auto good = api_.client().Create(NewReplicaSet(w, "web-good", "3"));
  ASSERT_TRUE(good) << good.error().message();
  SetDeploymentStatus({{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 1}});
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(reverts_.empty());
}

// A Deployment the revision created that the cache does not have yet is
// not "nothing to roll out" (Healthy, never judged again): the revision
// waits for it.
TEST_F(RevisionHealthTest, ACreatedDeploymentNotYetInTheCacheIsWaitedFor) {
  Revision(Json::array({{{"action", "created"}, {"kind", "Deployment"}, {"namespace", "shop"}, {"name", "web"}}}));
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"], "waiting for deployment shop/web: this revision's change to it is not in the "
                                       "cache yet");
  std::this_thread::sleep_for(500ms);  // two rechecks: still waiting
  EXPECT_EQ(RecordStatus().value("phase", ""), "Progressing") << RecordStatus().dump();
  Deployment(1, {{"replicas", 1},
                 {"conditions", Json::array({{{"type", "Progressing"},
                                              {"status", "False"},
                                              {"reason", "ProgressDeadlineExceeded"}}})}});
  ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
}

// A record cut to its size cap lists no objects: it counts what it wrote of
// each kind, and the revision waits until its cache has as many Deployments
// carrying the commit (or has seen past the write); a kind it did not write
// is not waited for.
TEST_F(RevisionHealthTest, ATruncatedRecordWaitsForAsManyDeploymentsAsItWrote) {
  ASSERT_NO_FATAL_FAILURE(SetAppliedAt("999999"));  // a write this cache has not seen through yet
  Revision(Json::array(), "", false,
           {{"truncated", true}, {"writtenByKind", {{"Deployment", 1}, {"ConfigMap", 4000}}}});
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"], "waiting for the cache: 0 of the 1 Deployments this revision wrote are in it");
  std::this_thread::sleep_for(500ms);  // two rechecks: still waiting, not "nothing to roll out"
  EXPECT_EQ(RecordStatus().value("phase", ""), "Progressing") << RecordStatus().dump();
  Deployment(1, {{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 1}});
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"], "1 deployment(s) rolled out and available, 0 job(s) completed");
}

// A commit that changed no object (outside the followed folder) is Healthy
// with the reason its record and Event already gave: NoChanges.
TEST_F(RevisionHealthTest, ARevisionThatChangedNothingStaysNoChangesWhenHealthy) {
  Revision(Json::array(), "", false, {{"reason", "NoChanges"}});
  StartManager();
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["reason"], "NoChanges");
}

TEST_F(RevisionHealthTest, ATruncatedRecordOfNoWorkloadsHasNothingToWaitFor) {
  ASSERT_NO_FATAL_FAILURE(SetAppliedAt("999999"));
  Revision(Json::array(), "", false, {{"truncated", true}, {"writtenByKind", {{"ConfigMap", 4000}}}});
  StartManager();
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"], "no pod template or Job changed: nothing to roll out");
  // Not "RolledOut": nothing was (`bosun history --outcome RolledOut` finds rollouts only).
  EXPECT_EQ(RecordStatus()["reason"], "NothingToRollOut");
}

// A Deployment the revision created and someone deleted afterwards (self-heal
// off) is not waited for forever as "not in the cache yet": the cache has
// seen past the revision's write, so it is left out of the verdict, by name.
TEST_F(RevisionHealthTest, ADeploymentDeletedAfterTheRevisionWroteItIsLeftOutOfTheVerdict) {
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 0}});
  ASSERT_NO_FATAL_FAILURE(SetAppliedAt(d.resource_version()));
  Revision(Json::array({{{"action", "created"}, {"kind", "Deployment"}, {"namespace", "shop"}, {"name", "web"}}}));
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"], "waiting for deployment shop/web: 1/1 updated, 0 available");
  ASSERT_NO_FATAL_FAILURE(DeleteDeployment());
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"],
            "0 deployment(s) rolled out and available, 0 job(s) completed; deleted after "
            "this revision wrote them, not judged: deployment shop/web");
}

// The same when the controller starts after the delete (a new leader): its
// cache never had the Deployment, but its list is later than the write.
TEST_F(RevisionHealthTest, ADeploymentDeletedBeforeTheControllerStartedIsLeftOutToo) {
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 0}});
  ASSERT_NO_FATAL_FAILURE(SetAppliedAt(d.resource_version()));
  Revision(Json::array({{{"action", "created"}, {"kind", "Deployment"}, {"namespace", "shop"}, {"name", "web"}}}));
  ASSERT_NO_FATAL_FAILURE(DeleteDeployment());
  StartManager();
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
}

// Written since by a later commit (whose sync has not made it live yet): not
// this revision's to judge; it waits, and names the commit.
TEST_F(RevisionHealthTest, ADeploymentALaterCommitWroteSinceIsNotJudged) {
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 1}});
  ASSERT_NO_FATAL_FAILURE(SetAppliedAt(d.resource_version()));
  d.set_annotation(kRevisionAnnotation, std::string(40, '4'));
  ASSERT_TRUE(api_.client().Update(d));
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"], "waiting for deployment shop/web: commit 4444444 has written it since");
}

TEST_F(RevisionHealthTest, ADegradedRevertIsNeverRevertedAutomatically) {
  Deployment(1, {{"replicas", 1},
                 {"conditions", Json::array({{{"type", "Progressing"},
                                              {"status", "False"},
                                              {"reason", "ProgressDeadlineExceeded"}}})}});
  Revision(Touched("Deployment", "web"), /*reverts=*/"3333333333333333333333333333333333333333");
  StartManager();
  ASSERT_TRUE(PhaseIs("Degraded"));
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); }));
  EXPECT_EQ(RecordStatus()["revert"]["needsHuman"], true);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(reverts_.empty());
}

TEST_F(RevisionHealthTest, TheFirstCommitIsNeverRevertedAutomatically) {
  Deployment(1, {{"replicas", 1},
                 {"conditions", Json::array({{{"type", "Progressing"},
                                              {"status", "False"},
                                              {"reason", "ProgressDeadlineExceeded"}}})}});
  Revision(Touched("Deployment", "web"), "", /*first_commit=*/true);
  StartManager();
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); }));
  EXPECT_EQ(RecordStatus()["revert"]["needsHuman"], true);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(reverts_.empty());
}

TEST_F(RevisionHealthTest, AConflictingRevertIsRecordedAsNeedingAHuman) {
  revert_conflicts_ = true;
  Deployment(1, {{"replicas", 1},
                 {"conditions", Json::array({{{"type", "Progressing"},
                                              {"status", "False"},
                                              {"reason", "ProgressDeadlineExceeded"}}})}});
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  Json st = RecordStatus();
  EXPECT_EQ(st["revert"]["needsHuman"], true);
  EXPECT_EQ(st["revert"]["error"], "the revert conflicts in web/deploy.yaml");
  EXPECT_EQ(st["phase"], "Degraded");
  EXPECT_EQ(syncs_.load(), 0);
}

// A fix pushed before the revert: the branch head already undoes the
// revision. Nothing for a person to do: no "needs a human", no Warning.
TEST_F(RevisionHealthTest, ARevertTheBranchHeadMadeNeedlessIsNoFailure) {
  revert_not_needed_ = true;
  Deployment(1,
             {{"replicas", 1},
              {"conditions",
               Json::array({{{"type", "Progressing"}, {"status", "False"}, {"reason", "ProgressDeadlineExceeded"}}})}});
  Revision(Touched("Deployment", "web"));
  StartManager();
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  Json st = RecordStatus();
  EXPECT_EQ(st["revert"]["notNeeded"], true);
  EXPECT_FALSE(st["revert"].contains("needsHuman")) << st.dump();
  std::vector<std::string> reasons;
  ASSERT_TRUE(Eventually([&] {
    reasons.clear();
    auto l = api_.client().List(*KindRegistry::Builtin().FindKind("Event"), "");
    if (!l) return false;
    for (const Object& e : l->items) reasons.push_back(e.json().value("type", "") + " " + e.json().value("reason", ""));
    return std::find(reasons.begin(), reasons.end(), "Normal RevertNotNeeded") != reasons.end();
  })) << ::testing::PrintToString(reasons);
  EXPECT_EQ(std::find(reasons.begin(), reasons.end(), "Warning RevertFailed"), reasons.end());
}

TEST_F(RevisionHealthTest, AFailedJobIsDegradedAndACompletedOneHealthy) {
  Object job(GroupVersionKind{"batch", "v1", "Job"}, "shop", "migrate");
  job.set_annotation(kRevisionAnnotation, kCommit);
  job.json()["spec"] = {{"template",
                         {{"spec",
                           {{"restartPolicy", "Never"},
                            {"containers", Json::array({{{"name", "m"}, {"image", "busybox:1"}}})}}}}}};
  auto j = api_.client().Create(job);
  ASSERT_TRUE(j) << j.error().message();
  Revision(Touched("Job", "migrate"));
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing"));
  // Its pod's run ended with exit code 1: the verdict says so (not what
  // the container wrote).
  PodOf(*j, "migrate-x1",
        {{"phase", "Failed"},
         {"containerStatuses",
          Json::array(
              {{{"name", "m"},
                {"state", {{"terminated", {{"exitCode", 1}, {"reason", "Error"}, {"message", "secret-ish"}}}}}}})}});
  j->json()["status"] = {{"conditions", Json::array({{{"type", "Failed"},
                                                      {"status", "True"},
                                                      {"reason", "BackoffLimitExceeded"},
                                                      {"message", "Job has reached the specified backoff limit"}}})}};
  ASSERT_TRUE(api_.client().UpdateStatus(*j));
  ASSERT_TRUE(PhaseIs("Degraded"));
  EXPECT_EQ(RecordStatus()["message"],
            "job shop/migrate failed: BackoffLimitExceeded: Job has reached the specified backoff limit; pod "
            "shop/migrate-x1, container m exited with 1 (Error)");
}

TEST_F(RevisionHealthTest, ARevertAskedForByHandIsAnsweredWithTheSameId) {
  Revision(Json::array());
  StartManager();
  ASSERT_TRUE(PhaseIs("Healthy"));  // nothing to roll out
  const KindInfo& rk = *KindRegistry::Builtin().FindKind("Revision");
  ASSERT_TRUE(api_.client().Patch(
      rk, "", "00000002",
      Json{{"metadata", {{"annotations", {{kRevertRequestedAnnotation, R"({"id":"req-1","reason":"bad idea"})"}}}}}}));
  ASSERT_TRUE(Eventually([&] { return RecordStatus().value("/revert/request"_json_pointer, "") == "req-1"; }));
  Json st = RecordStatus();
  EXPECT_EQ(st["revert"]["commit"], "2222222222222222222222222222222222222222");
  EXPECT_EQ(st["revert"]["automatic"], false);
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(reverts_.size(), 1u);
  EXPECT_EQ(reverts_[0].second, "bad idea");
  EXPECT_EQ(back_tos_[0], "");  // applied over its own parent: the commit alone
}

// A revision that brought several commits (applied over an earlier commit
// than its parent: merged together, or the one before refused): reverted by
// hand, everything it applied is undone, back to what was live before it.
TEST_F(RevisionHealthTest, ARevertByHandUndoesEveryCommitTheRevisionBrought) {
  const std::string before(40, 'b');
  OtherRevision("00000001", before, Json::array());
  SetRecordPhase("00000001", "Healthy");
  Revision(Json::array());
  const KindInfo& rk = *KindRegistry::Builtin().FindKind("Revision");
  auto rec = api_.client().Get(rk, "", "00000002");
  ASSERT_TRUE(rec);
  rec->json()["spec"]["liveBefore"] = before;
  ASSERT_TRUE(api_.client().Update(*rec));
  StartManager();
  ASSERT_TRUE(PhaseIs("Healthy"));
  ASSERT_TRUE(api_.client().Patch(
      rk, "", "00000002",
      Json{{"metadata", {{"annotations", {{kRevertRequestedAnnotation, R"({"id":"req-2","reason":"undo it"})"}}}}}}));
  ASSERT_TRUE(Eventually([&] { return RecordStatus().value("/revert/request"_json_pointer, "") == "req-2"; }));
  EXPECT_EQ(RecordStatus()["revert"]["backTo"], Json({{"commit", before}, {"commits", 2}, {"revision", "00000001"}}))
      << RecordStatus().dump();
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(back_tos_.size(), 1u);
  EXPECT_EQ(back_tos_[0], before);
}

}  // namespace
}  // namespace bosun::reconciler

namespace bosun::reconciler {
namespace {

const std::string kLater = "3333333333333333333333333333333333333333";

// A commit that touches no workload goes live while an earlier one is still
// rolling out: the earlier one is still judged by what it wrote, rather than
// hidden behind the later one's "nothing to roll out". Degraded, it is not
// reverted automatically (only the newest applied revision is: the later
// one may rely on it, or be its fix): the record says so and how.
TEST_F(RevisionHealthTest, ARolloutALaterRevisionWentLiveOverIsStillJudgedButNotRevertedAutomatically) {
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 0}, {"availableReplicas", 0}});
  Revision(Touched("Deployment", "web"));
  ASSERT_NO_FATAL_FAILURE(OtherRevision("00000003", kLater, Json::array()));
  ASSERT_NO_FATAL_FAILURE(SetLive("00000003", kLater, d.resource_version(), kLater));
  StartManager();
  ASSERT_TRUE(PhaseIs("Progressing")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"], "waiting for deployment shop/web: 0/1 updated, 0 available");
  SetDeploymentStatus(DeadlineExceeded());
  ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["reason"], "ProgressDeadlineExceeded");
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["revert"]["needsHuman"], true);
  EXPECT_EQ(RecordStatus()["revert"]["error"],
            "revision 3 is live since; bosun reverts only the newest applied revision automatically (`bosun "
            "revert 2` reverts this one)");
  EXPECT_EQ(RecordStatus()["revert"]["automatic"], false);
  std::this_thread::sleep_for(300ms);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(reverts_.empty());
  EXPECT_EQ(syncs_.load(), 0);
}

// A revision left Degraded and not reverted (its revert was held back: a
// newer commit was fetched) once a later one is live: the record says it is
// left to a person, and how.
TEST_F(RevisionHealthTest, ADegradedRevisionALaterOneWentLiveOverSaysItIsLeftToAPerson) {
  Object d = Deployment(1, DeadlineExceeded());
  Revision(Touched("Deployment", "web"), "", false, {{"phase", "Degraded"}, {"reason", "ProgressDeadlineExceeded"}});
  ASSERT_NO_FATAL_FAILURE(OtherRevision("00000003", kLater, Json::array()));
  ASSERT_NO_FATAL_FAILURE(SetLive("00000003", kLater, d.resource_version(), kLater));
  StartManager();
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["revert"]["needsHuman"], true);
  EXPECT_EQ(RecordStatus()["phase"], "Degraded");
  std::this_thread::sleep_for(300ms);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(reverts_.empty());
}

// The fix went forward: a later commit rewrote the Deployment a revision
// left to a person failed on. That revision is Superseded and no longer asks
// for a revert; what its verdict and its revert note said stays, under
// status.degraded.
TEST_F(RevisionHealthTest, ADegradedRevisionLeftToAPersonIsSupersededByALaterFix) {
  ASSERT_NO_FATAL_FAILURE(
      LeftToAPerson({{"message", "progress deadline exceeded for deployment shop/web: 0/1 new replicas available"},
                     {"degradedAt", "2026-11-24T10:00:00Z"}}));

  const std::string fix(40, '4');
  Object fixed = RewriteDeployment(fix, "web:3");
  ASSERT_FALSE(fixed.name().empty());
  ASSERT_NO_FATAL_FAILURE(OtherRevision("00000004", fix, Touched("Deployment", "web")));
  ASSERT_NO_FATAL_FAILURE(SetLive("00000004", fix, fixed.resource_version(), fix));

  ASSERT_TRUE(PhaseIs("Superseded")) << RecordStatus().dump();
  Json st = RecordStatus();
  EXPECT_EQ(st["reason"], "Superseded");
  EXPECT_EQ(st["message"],
            "superseded after it was degraded (ProgressDeadlineExceeded): later commits changed all it rolled out: "
            "deployment shop/web (by 4444444)");
  EXPECT_FALSE(st.contains("revert")) << st.dump();
  EXPECT_EQ(st["degraded"]["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ(st["degraded"]["at"], "2026-11-24T10:00:00Z");
  EXPECT_EQ(st["degraded"]["message"],
            "progress deadline exceeded for deployment shop/web: 0/1 new replicas available");
  EXPECT_EQ(st["degraded"]["revert"]["needsHuman"], true);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(reverts_.empty());
}

// A Degraded revision nothing was reverted for whose rollout becomes
// available again (an image pushed late, a node back) is Healthy (reason
// Recovered), but only once that has held for recover_after: available for
// a moment and failing again (a crash loop between restarts) is no recovery.
TEST_F(RevisionHealthTest, ADegradedRevisionThatRecoversIsHealthyOnceThatHolds) {
  recover_after_ = 1500ms;
  healthy_after_ = 0ms;  // no pods here to stay up
  const Json available = {{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 1}};
  ASSERT_NO_FATAL_FAILURE(LeftToAPerson({{"message", "deadline"}}));

  SetDeploymentStatus(available);
  std::this_thread::sleep_for(200ms);
  SetDeploymentStatus(DeadlineExceeded());
  std::this_thread::sleep_for(2000ms);
  EXPECT_EQ(RecordStatus()["phase"], "Degraded") << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["revert"]["needsHuman"], true);

  const auto since = std::chrono::steady_clock::now();
  SetDeploymentStatus(available);
  ASSERT_TRUE(PhaseIs("Healthy")) << RecordStatus().dump();
  EXPECT_GE(std::chrono::steady_clock::now() - since, 1500ms);
  Json st = RecordStatus();
  EXPECT_EQ(st["reason"], "Recovered");
  EXPECT_EQ(st["message"],
            "recovered after it was degraded (ProgressDeadlineExceeded): 1 deployment(s) rolled out and available, 0 "
            "job(s) completed");
  EXPECT_TRUE(st.contains("healthyAt"));
  EXPECT_FALSE(st.contains("revert"));
  EXPECT_EQ(st["degraded"]["message"], "deadline");
  EXPECT_EQ(st["degraded"]["revert"]["automatic"], false);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(reverts_.empty());
}

// Deleted since (a later commit pruned it, or a person deleted it): nothing
// is left to be degraded; it is settled as Superseded, never "recovered".
TEST_F(RevisionHealthTest, ADegradedRevisionWhoseDeploymentWasDeletedIsSuperseded) {
  recover_after_ = 200ms;
  ASSERT_NO_FATAL_FAILURE(LeftToAPerson({{"message", "deadline"}}));
  DeleteDeployment();
  ASSERT_TRUE(PhaseIs("Superseded")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["message"],
            "superseded after it was degraded (ProgressDeadlineExceeded): all it rolled out was deleted since: "
            "deployment shop/web");
  EXPECT_NE(RecordStatus()["reason"], "Recovered");
}

// The live revision owed its revert (held back while suspended) is not
// "recovered" meanwhile, whatever its pods do: the revert comes on resume.
TEST_F(RevisionHealthTest, ALiveRevisionOwedItsRevertIsNotRecoveredMeanwhile) {
  recover_after_ = 200ms;
  healthy_after_ = 0ms;
  ASSERT_NO_FATAL_FAILURE(Suspend(true));
  ASSERT_NO_FATAL_FAILURE(DegradedAndNotReverted());
  SetDeploymentStatus({{"replicas", 1}, {"updatedReplicas", 1}, {"availableReplicas", 1}});
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(RecordStatus()["phase"], "Degraded") << RecordStatus().dump();
  ASSERT_NO_FATAL_FAILURE(Suspend(false));
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["revert"]["automatic"], true);
}

// A later commit rewrote all the earlier one rolled out (a fix): the
// earlier one is Superseded, never reverted; a record newer than the live
// one (being applied) is not judged at all.
TEST_F(RevisionHealthTest, ARevisionWhoseRolloutALaterCommitChangedIsSuperseded) {
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 0}, {"availableReplicas", 0}}, kLater);
  Revision(Touched("Deployment", "web"));
  ASSERT_NO_FATAL_FAILURE(OtherRevision("00000003", kLater, Touched("Deployment", "web")));
  ASSERT_NO_FATAL_FAILURE(OtherRevision("00000004", std::string(40, '4'), Touched("Deployment", "web")));
  ASSERT_NO_FATAL_FAILURE(SetLive("00000003", kLater, d.resource_version(), kLater));
  StartManager();
  ASSERT_TRUE(PhaseIs("Superseded")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["reason"], "Superseded");
  EXPECT_EQ(RecordStatus()["message"],
            "later commits changed all it rolled out before its verdict: deployment shop/web (by 3333333)");
  std::this_thread::sleep_for(500ms);  // rechecks of 200 ms: 00000004 was looked at
  auto newer = api_.client().Get(*KindRegistry::Builtin().FindKind("Revision"), "", "00000004");
  ASSERT_TRUE(newer);
  EXPECT_EQ(newer->json()["status"]["phase"], "Applied") << newer->json().dump();
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(reverts_.empty());
}

// A later commit that only scaled the Deployment (no new pod template) did
// not take its rollout over: the earlier revision, whose template is still
// rolling out, is still judged by it, and its failure is its own.
TEST_F(RevisionHealthTest, ALaterScaleDoesNotTakeTheRolloutOver) {
  Object d = Deployment(3, DeadlineExceeded(), kLater);
  Revision(Touched("Deployment", "web"));
  Json scaled = Touched("Deployment", "web");
  scaled[0]["diff"] = Json::array({{{"field", "spec.replicas"}, {"op", "changed"}, {"from", 1}, {"to", 3}}});
  ASSERT_NO_FATAL_FAILURE(OtherRevision("00000003", kLater, scaled));
  ASSERT_NO_FATAL_FAILURE(SetLive("00000003", kLater, d.resource_version(), kLater));
  StartManager();
  ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["reason"], "ProgressDeadlineExceeded");
  ASSERT_TRUE(Eventually([&] { return RecordStatus().contains("revert"); })) << RecordStatus().dump();
  EXPECT_EQ(RecordStatus()["revert"]["needsHuman"], true);
  // The scale is not blamed: it started no rollout, and is not reverted.
  auto scale = api_.client().Get(*KindRegistry::Builtin().FindKind("Revision"), "", "00000003");
  ASSERT_TRUE(scale);
  EXPECT_EQ(scale->json()["status"]["phase"], "Healthy") << scale->json()["status"].dump();
  // And it says why, without denying the Deployment changed.
  EXPECT_EQ(scale->json()["status"]["message"], "no pod template or Job changed: nothing to roll out");
  std::this_thread::sleep_for(300ms);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(reverts_.empty());
}

// What later records say counts only from applied ones (a skipped commit
// changed nothing), and a later record whose list was cut may have started
// any rollout: the earlier revision then leaves the Deployment to it.
TEST_F(RevisionHealthTest, OnlyAppliedLaterRecordsCountAndACutOneMayHaveStartedAnyRollout) {
  Object d = Deployment(3, DeadlineExceeded(), kLater);
  Revision(Touched("Deployment", "web"));
  Json scaled = Touched("Deployment", "web");
  scaled[0]["diff"] = Json::array({{{"field", "spec.replicas"}, {"op", "changed"}, {"from", 1}, {"to", 3}}});
  ASSERT_NO_FATAL_FAILURE(OtherRevision("00000003", kLater, scaled));
  ASSERT_NO_FATAL_FAILURE(OtherRevision("00000004", std::string(40, '4'), Touched("Deployment", "web")));
  auto skipped = api_.client().Get(*KindRegistry::Builtin().FindKind("Revision"), "", "00000004");
  ASSERT_TRUE(skipped);
  skipped->json()["status"] = {{"phase", "Skipped"}, {"reason", "Superseded"}};
  ASSERT_TRUE(api_.client().UpdateStatus(*skipped));
  ASSERT_NO_FATAL_FAILURE(SetLive("00000003", kLater, d.resource_version(), kLater));
  StartManager();
  ASSERT_TRUE(PhaseIs("Degraded")) << RecordStatus().dump();
}

TEST_F(RevisionHealthTest, ALaterCutRecordMayHaveStartedTheRollout) {
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 0}, {"availableReplicas", 0}}, kLater);
  Revision(Touched("Deployment", "web"));
  ASSERT_NO_FATAL_FAILURE(OtherRevision("00000003", kLater, Json::array()));
  auto cut = api_.client().Get(*KindRegistry::Builtin().FindKind("Revision"), "", "00000003");
  ASSERT_TRUE(cut);
  cut->json()["status"]["truncated"] = true;
  cut->json()["status"]["writtenByKind"] = {{"ConfigMap", 1}};
  ASSERT_TRUE(api_.client().UpdateStatus(*cut));
  ASSERT_NO_FATAL_FAILURE(SetLive("00000003", kLater, d.resource_version(), kLater));
  StartManager();
  ASSERT_TRUE(PhaseIs("Superseded")) << RecordStatus().dump();
}

// One that changed the pod template did: the earlier one is Superseded.
TEST_F(RevisionHealthTest, ALaterTemplateChangeTakesTheRolloutOver) {
  Object d = Deployment(1, {{"replicas", 1}, {"updatedReplicas", 0}, {"availableReplicas", 0}}, kLater);
  Revision(Touched("Deployment", "web"));
  Json changed = Touched("Deployment", "web");
  changed[0]["diff"] = Json::array(
      {{{"field", "spec.template.spec.containers[0].image"}, {"op", "changed"}, {"from", "web:2"}, {"to", "web:3"}}});
  ASSERT_NO_FATAL_FAILURE(OtherRevision("00000003", kLater, changed));
  ASSERT_NO_FATAL_FAILURE(SetLive("00000003", kLater, d.resource_version(), kLater));
  StartManager();
  ASSERT_TRUE(PhaseIs("Superseded")) << RecordStatus().dump();
}

// The same when the repository's status lost liveResourceVersion (a pass
// recovered after a crash): the record's own version bounds its write.
TEST_F(RevisionHealthTest, ASupersededRevisionIsFoundWithoutTheLiveResourceVersion) {
  Deployment(1, {{"replicas", 1}, {"updatedReplicas", 0}, {"availableReplicas", 0}}, kLater);
  Revision(Touched("Deployment", "web"));
  ASSERT_NO_FATAL_FAILURE(OtherRevision("00000003", kLater, Touched("Deployment", "web")));
  ASSERT_NO_FATAL_FAILURE(SetLive("00000003", kLater, "", kLater));
  StartManager();
  ASSERT_TRUE(PhaseIs("Superseded")) << RecordStatus().dump();
}

}  // namespace
}  // namespace bosun::reconciler
