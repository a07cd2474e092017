// The controller runtime (reconciler/workqueue.h, shared_informer.h,
// controller.h, events.h): the work queue's guarantees, informers fed by a
// real API's watches, controllers that retry and requeue, and Events.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "core/kinds.h"
#include "reconciler/controller.h"
#include "reconciler/events.h"
#include "reconciler/shared_informer.h"
#include "reconciler/workqueue.h"
#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::reconciler {
namespace {

using namespace std::chrono_literals;
using test::Eventually;

Object ConfigMap(const std::string& ns, const std::string& name, const std::string& value) {
  Object o(GroupVersionKind{"", "v1", "ConfigMap"}, ns, name);
  o.json()["data"] = {{"k", value}};
  return o;
}

TEST(WorkQueueTest, AKeyAddedTwiceWhileWaitingIsGivenOnce) {
  WorkQueue q;
  q.Add("a");
  q.Add("a");
  q.Add("b");
  EXPECT_EQ(q.Len(), 2u);
  EXPECT_EQ(*q.Get(), "a");
  EXPECT_EQ(*q.Get(), "b");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, AKeyInProgressIsNotGivenToAnotherWorkerButComesBackAfterDone) {
  WorkQueue q;
  q.Add("a");
  auto first = q.Get();
  ASSERT_TRUE(first);
  q.Add("a");  // changed while a worker holds it
  EXPECT_EQ(q.Len(), 0u) << "the key must not be handed out twice at once";
  std::atomic<bool> got{false};
  std::thread other([&] {
    auto k = q.Get();
    got = k.has_value() && *k == "a";
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(got.load());
  q.Done("a");
  other.join();
  EXPECT_TRUE(got.load()) << "the change made while in progress was lost";
}

TEST(WorkQueueTest, AddAfterWaitsAndTheEarlierOfTwoDelaysWins) {
  WorkQueue q;
  auto start = std::chrono::steady_clock::now();
  q.AddAfter("a", 5s);
  q.AddAfter("a", 150ms);
  EXPECT_EQ(q.Len(), 0u);
  auto k = q.Get();
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(k);
  EXPECT_GE(waited, 140ms);
  EXPECT_LT(waited, 3s);
}

TEST(WorkQueueTest, RateLimitedRequeuesBackOffAndForgetResets) {
  WorkQueueOptions o;
  o.backoff_base = 40ms;
  o.backoff_max = 1s;
  WorkQueue q(o);
  auto timed = [&] {
    auto start = std::chrono::steady_clock::now();
    q.AddRateLimited("a");
    auto k = q.Get();
    EXPECT_TRUE(k);
    q.Done("a");
    return std::chrono::steady_clock::now() - start;
  };
  auto d1 = timed();  // 40 ms
  timed();            // 80 ms
  auto d3 = timed();  // 160 ms
  EXPECT_EQ(q.NumRequeues("a"), 3);
  EXPECT_GE(d3, 150ms);
  EXPECT_GT(d3, d1);
  q.Forget("a");
  EXPECT_EQ(q.NumRequeues("a"), 0);
  EXPECT_LT(timed(), 150ms);
}

TEST(WorkQueueTest, ShutDownWakesWaitingWorkers) {
  WorkQueue q;
  std::atomic<bool> ended{false};
  std::thread t([&] {
    EXPECT_FALSE(q.Get().has_value());
    ended = true;
  });
  std::this_thread::sleep_for(50ms);
  q.ShutDown();
  t.join();
  EXPECT_TRUE(ended.load());
  q.Add("a");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(SharedInformerTest, ListsWatchesAndTellsHandlersOfEachChangeOnce) {
  test::TempDir dir;
  test::InProcessApi api(dir.path());
  const KindInfo& cm = *KindRegistry::Builtin().FindKind("ConfigMap");
  ASSERT_TRUE(api.client().Create(ConfigMap("default", "before", "1")));

  std::mutex mu;
  std::vector<std::string> seen;  // "+name", "~name", "-name"
  SharedInformer inf(&api.client(), cm);  // after what its handler captures: stopped before they go
  inf.AddHandler([&](const Object* old, const Object* cur) {
    std::lock_guard<std::mutex> lock(mu);
    if (old == nullptr) seen.push_back("+" + cur->name());
    else if (cur == nullptr) seen.push_back("-" + old->name());
    else seen.push_back("~" + cur->name());
  });
  ASSERT_TRUE(inf.Start(10s));
  ASSERT_TRUE(inf.Get("default", "before"));
  const int64_t listed = inf.SeenThrough();
  EXPECT_GE(listed, std::stoll(inf.Get("default", "before")->resource_version()));

  // Our own write, stored at once: the watch's copy of it is not a second change.
  auto created = api.client().Create(ConfigMap("default", "mine", "1"));
  ASSERT_TRUE(created);
  inf.Store(*created);
  ASSERT_TRUE(inf.Get("default", "mine"));
  // Someone else's update and a delete arrive through the watch.
  auto other = api.NewClient();
  Object upd = *created;
  upd.json()["data"]["k"] = "2";
  ASSERT_TRUE(other->Update(upd));
  auto deleted = other->Delete(cm, "default", "before");
  ASSERT_TRUE(deleted);
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size() >= 4;
  }));
  // A deleted object's version is its delete's; the watch's progress is the
  // last event it delivered (each its own revision here).
  EXPECT_EQ(inf.ResourceVersionOf("default", "before"), std::stoll(deleted->resource_version()));
  EXPECT_EQ(inf.SeenThrough(), std::stoll(deleted->resource_version()));
  EXPECT_EQ(inf.ResourceVersionOf("default", "never"), 0);
  std::this_thread::sleep_for(300ms);  // any duplicate would have come by now
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"+before", "+mine", "~mine", "-before"}));
  EXPECT_FALSE(inf.Get("default", "before"));
  EXPECT_EQ(inf.Get("default", "mine")->json()["data"]["k"], "2");
}

TEST(SharedInformerTest, IndexesObjectsByTheirControllerOwner) {
  SharedInformer inf(nullptr, *KindRegistry::Builtin().FindKind("Pod"));
  auto pod = [](const std::string& name, const std::string& owner_uid, const std::string& rv) {
    Object p(GroupVersionKind{"", "v1", "Pod"}, "ns", name);
    p.set_resource_version(rv);
    if (!owner_uid.empty()) {
      p.json()["metadata"]["ownerReferences"] = Json::array(
          {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "rs"}, {"uid", owner_uid}, {"controller", true}}});
    }
    return p;
  };
  inf.Seed({pod("a", "u1", "1"), pod("b", "u1", "2"), pod("c", "u2", "3"), pod("d", "", "4")});
  EXPECT_EQ(inf.ListOwnedBy("u1").size(), 2u);
  EXPECT_EQ(inf.ListOwnedBy("u2").size(), 1u);
  inf.Store(pod("b", "u2", "5"));  // adopted by another owner
  EXPECT_EQ(inf.ListOwnedBy("u1").size(), 1u);
  EXPECT_EQ(inf.ListOwnedBy("u2").size(), 2u);
  inf.Forget("ns", "a", "6");
  EXPECT_TRUE(inf.ListOwnedBy("u1").empty());
  inf.Store(pod("a", "u1", "3"));  // older than the delete: ignored
  EXPECT_FALSE(inf.Get("ns", "a"));
  EXPECT_EQ(inf.List().size(), 3u);
}

TEST(ControllerManagerTest, ReconcilesKeysRetriesErrorsAndRequeuesAfterADelay) {
  test::TempDir dir;
  test::InProcessApi api(dir.path());
  std::mutex mu;
  std::map<std::string, int> calls;
  ControllerManager mgr(&api.client(), &Clock::System());  // after what its reconciler captures
  SharedInformer& cms = mgr.Informer("ConfigMap");
  auto* c = &mgr.Add(std::make_unique<Controller>(
      "test", 2,
      [&](const std::string& key) -> Result<Reconciled> {
        int n;
        {
          std::lock_guard<std::mutex> lock(mu);
          n = ++calls[key];
        }
        if (key == "default/flaky" && n < 3) return Error(Code::kUnavailable, "try again");
        if (key == "default/periodic" && n < 3) return Reconciled::After(50ms);
        return Reconciled::Done();
      },
      WorkQueueOptions{10ms, 1s}));
  cms.AddHandler([c](const Object*, const Object* cur) {
    if (cur != nullptr) c->Enqueue(*cur);
  });
  ASSERT_TRUE(api.client().Create(ConfigMap("default", "flaky", "1")));
  ASSERT_TRUE(mgr.Start());
  ASSERT_TRUE(api.client().Create(ConfigMap("default", "periodic", "1")));
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return calls["default/flaky"] >= 3 && calls["default/periodic"] >= 3;
  }));
  EXPECT_GE(c->errors(), 2u);
  mgr.Stop();
  int before;
  {
    std::lock_guard<std::mutex> lock(mu);
    before = calls["default/flaky"];
  }
  ASSERT_TRUE(api.client().Create(ConfigMap("default", "late", "1")));
  std::this_thread::sleep_for(200ms);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(calls["default/flaky"], before);
  EXPECT_EQ(calls.count("default/late"), 0u) << "a stopped manager (leadership lost) must not reconcile";
}

TEST(EventRecorderTest, WritesEventsAndCountsRepeats) {
  test::TempDir dir;
  test::InProcessApi api(dir.path());
  auto cm = api.client().Create(ConfigMap("default", "web", "1"));
  ASSERT_TRUE(cm);
  EventRecorder rec(&api.client(), &Clock::System(), "test-controller");
  rec.Normal(*cm, "Scaled", "scaled up to 3");
  rec.Normal(*cm, "Scaled", "scaled up to 3");
  rec.Warning(*cm, "Failed", "something else");
  rec.Flush();
  const KindInfo& ev = *KindRegistry::Builtin().FindKind("Event");
  auto list = api.client().List(ev, "default", state::Selectors("", "involvedObject.uid=" + cm->uid()));
  ASSERT_TRUE(list) << list.error().message();
  ASSERT_EQ(list->items.size(), 2u);
  std::map<std::string, Json> by_reason;
  for (const auto& e : list->items) by_reason[e.json()["reason"]] = e.json();
  EXPECT_EQ(by_reason["Scaled"]["count"], 2);
  EXPECT_EQ(by_reason["Scaled"]["type"], "Normal");
  EXPECT_EQ(by_reason["Scaled"]["message"], "scaled up to 3");
  EXPECT_EQ(by_reason["Scaled"]["source"]["component"], "test-controller");
  EXPECT_EQ(by_reason["Failed"]["type"], "Warning");
  EXPECT_EQ(by_reason["Failed"]["involvedObject"]["name"], "web");
}

}  // namespace
}  // namespace bosun::reconciler

namespace bosun::reconciler {
namespace {

TEST(EventTtlTest, EventsPastTheTtlAreDeletedAndNewerOnesKept) {
  test::TempDir dir;
  test::InProcessApi api(dir.path());
  const KindInfo& ev = *KindRegistry::Builtin().FindKind("Event");
  auto event = [&](const std::string& name, std::chrono::minutes age) {
    Object e(ev.gvk, "default", name);
    e.json()["involvedObject"] = {{"kind", "Pod"}, {"name", "p"}, {"namespace", "default"}};
    e.json()["reason"] = "Scheduled";
    e.json()["message"] = "m";
    e.json()["lastTimestamp"] = FormatRfc3339(Clock::System().Now() - age);
    ASSERT_TRUE(api.client().Create(e));
  };
  for (int i = 0; i < 3; ++i) event("old-" + std::to_string(i), std::chrono::minutes(61));
  event("recent", std::chrono::minutes(59));
  ControllerManager mgr(&api.client(), &Clock::System());
  ASSERT_TRUE(AddEventTtlController(mgr, std::chrono::hours(1)));
  ASSERT_TRUE(mgr.Start());
  ASSERT_TRUE(Eventually([&] {
    auto l = api.client().List(ev, "default");
    return l && l->items.size() == 1;
  }));
  auto l = api.client().List(ev, "default");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->items[0].name(), "recent");
  mgr.Stop();
}

}  // namespace
}  // namespace bosun::reconciler
