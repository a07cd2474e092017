// The Job controller against a real API server (test::InProcessApi), with an
// in-test "kubelet" that plays the node's part: it moves each pod to Running
// and then, as the test's script says, to Succeeded or Failed, or restarts
// its container (restartPolicy OnFailure).
#include "reconciler/job_controller.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::reconciler {
namespace {

using namespace std::chrono_literals;

const KindInfo& Kind(const char* k) { return *KindRegistry::Builtin().FindKind(k); }

// What the kubelet does with the n-th pod (0-based, in order of first sight)
// once it has run for `run_for`.
enum class Outcome { kSucceed, kFail, kRunForever, kCrashLoop };

class TestKubelet {
 public:
  TestKubelet(state::Client& client, std::function<Outcome(int)> script, std::chrono::milliseconds run_for)
      : client_(client), script_(std::move(script)), run_for_(run_for), thread_([this] { Loop(); }) {}
  ~TestKubelet() {
    stop_ = true;
    thread_.join();
  }

  // The most pods that were neither Succeeded nor Failed at one look.
  int max_active() const { return max_active_.load(); }
  int pods_seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(pods_.size());
  }
  // When the kubelet first saw pod n, and when it failed it.
  std::chrono::steady_clock::time_point seen_at(int n) const { return At(n).seen; }
  std::chrono::steady_clock::time_point failed_at(int n) const { return At(n).failed; }

 private:
  struct PodState {
    int index = 0;
    std::chrono::steady_clock::time_point seen, running, failed;
    int restarts = 0;
    bool done = false;
  };
  PodState At(int n) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [uid, p] : pods_) {
      if (p.index == n) return p;
    }
    return {};
  }

  void Loop() {
    while (!stop_) {
      auto list = client_.List(Kind("Pod"), "");
      if (list) {
        int active = 0;
        for (const auto& pod : list->items) {
          std::string phase = pod.status().is_object() ? pod.status().value("phase", "") : "";
          if (phase != "Succeeded" && phase != "Failed") ++active;
          Step(pod);
        }
        if (active > max_active_) max_active_ = active;
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  void Write(const Object& pod, const std::string& phase, int restarts, const std::string& finished) {
    Object o = pod;
    o.json()["metadata"].erase("resourceVersion");  // the kubelet owns the status: last write wins
    Json cs = {{"name", "main"}, {"restartCount", restarts}, {"ready", phase == "Running"}};
    if (finished.empty()) {
      cs["state"] = {{"running", {{"startedAt", FormatRfc3339Millis(Clock::System().Now())}}}};
    } else {
      cs["state"] = {{"terminated",
                      {{"exitCode", phase == "Succeeded" ? 0 : 1},
                       {"reason", phase == "Succeeded" ? "Completed" : "Error"},
                       {"finishedAt", finished}}}};
    }
    o.json()["status"] = {{"phase", phase},
                          {"conditions", Json::array({{{"type", "Ready"}, {"status", phase == "Running" ? "True" : "False"}}})},
                          {"containerStatuses", Json::array({cs})}};
    auto r = client_.UpdateStatus(o);
    if (!r && r.error().code() != Code::kNotFound) ADD_FAILURE() << r.error().message();
  }

  void Step(const Object& pod) {
    auto now = std::chrono::steady_clock::now();
    PodState st;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto [it, added] = pods_.try_emplace(pod.uid());
      if (added) {
        it->second.index = next_index_++;
        it->second.seen = now;
      }
      st = it->second;
    }
    if (st.done) return;
    Outcome what = script_(st.index);
    if (st.running == std::chrono::steady_clock::time_point{}) {
      Write(pod, "Running", 0, "");
      std::lock_guard<std::mutex> lock(mu_);
      pods_[pod.uid()].running = now;
      return;
    }
    if (now - st.running < run_for_ || what == Outcome::kRunForever) return;
    std::string finished = FormatRfc3339Millis(Clock::System().Now());
    std::lock_guard<std::mutex> lock(mu_);
    PodState& p = pods_[pod.uid()];
    if (what == Outcome::kCrashLoop) {
      p.restarts++;
      p.running = now;
      Write(pod, "Running", p.restarts, "");
    } else {
      p.done = true;
      if (what == Outcome::kFail) p.failed = now;
      Write(pod, what == Outcome::kSucceed ? "Succeeded" : "Failed", 0, finished);
    }
  }

  state::Client& client_;
  std::function<Outcome(int)> script_;
  const std::chrono::milliseconds run_for_;
  std::atomic<bool> stop_{false};
  std::atomic<int> max_active_{0};
  mutable std::mutex mu_;
  std::map<std::string, PodState> pods_;  // by uid
  int next_index_ = 0;
  std::thread thread_;
};

Object NewJob(const std::string& name, const Json& spec_extra, const std::string& restart_policy = "Never") {
  Object job(GroupVersionKind{"batch", "v1", "Job"}, "default", name);
  Json spec = {{"template",
                {{"metadata", {{"labels", {{"app", name}}}}},
                 {"spec",
                  {{"restartPolicy", restart_policy},
                   {"containers", Json::array({{{"name", "main"}, {"image", "busybox"}}})}}}}}};
  spec.update(spec_extra);
  job.json()["spec"] = spec;
  return job;
}

class JobTest : public ::testing::Test {
 protected:
  void StartManager(std::chrono::milliseconds backoff_base = 100ms) {
    ManagerOptions mo;
    mo.sync_timeout = 10s;
    mgr_ = std::make_unique<ControllerManager>(&api_.client(), &Clock::System(), mo);
    JobControllerOptions jo;
    jo.backoff_base = backoff_base;
    jo.backoff_max = 2s;
    ASSERT_TRUE(AddJobController(*mgr_, jo));
    auto s = mgr_->Start();
    ASSERT_TRUE(s) << s.error().message();
  }
  void TearDown() override {
    if (mgr_) mgr_->Stop();
  }

  Object GetJob(const std::string& name) {
    auto r = api_.client().Get(Kind("Job"), "default", name);
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? *r : Object();
  }
  // The condition of `type` with status True, or null.
  static Json Condition(const Object& job, const std::string& type) {
    const Json& conds = Object::Field(job.status(), "conditions");
    if (conds.is_array()) {
      for (const auto& c : conds) {
        if (c.value("type", "") == type && c.value("status", "") == "True") return c;
      }
    }
    return nullptr;
  }
  bool WaitCondition(const std::string& name, const std::string& type, std::chrono::milliseconds timeout = 10s) {
    return test::Eventually([&] { return !Condition(GetJob(name), type).is_null(); }, timeout);
  }
  std::vector<Object> PodsOf(const std::string& job) {
    auto r = api_.client().List(Kind("Pod"), "default", "job-name=" + job);
    EXPECT_TRUE(r);
    return r ? r->items : std::vector<Object>{};
  }
  std::vector<std::string> EventReasons(const Object& involved) {
    mgr_->events().Flush();
    std::vector<std::string> out;
    auto r = api_.client().List(Kind("Event"), "default");
    if (!r) return out;
    for (const auto& e : r->items) {
      if (e.json()["involvedObject"].value("uid", "") == involved.uid()) out.push_back(e.json().value("reason", ""));
    }
    return out;
  }

  // The controller records an event after the status write it is about, so
  // a test that has seen the status waits for the event too.
  bool HasEvent(const Object& involved, const std::string& reason) {
    return test::Eventually([&] {
      auto reasons = EventReasons(involved);
      return std::find(reasons.begin(), reasons.end(), reason) != reasons.end();
    }, 5s);
  }

  test::TempDir dir_{"bosun-job"};
  test::InProcessApi api_{dir_.Sub("db")};
  std::unique_ptr<ControllerManager> mgr_;
};

TEST_F(JobTest, CompletionsWithParallelismNeverRunsMoreThanParallelism) {
  StartManager();
  TestKubelet kubelet(api_.client(), [](int) { return Outcome::kSucceed; }, 100ms);
  auto created = api_.client().Create(NewJob("batch", {{"completions", 5}, {"parallelism", 2}}));
  ASSERT_TRUE(created) << created.error().message();

  ASSERT_TRUE(WaitCondition("batch", "Complete")) << GetJob("batch").json().dump();
  Object job = GetJob("batch");
  EXPECT_EQ(job.status()["succeeded"], 5);
  EXPECT_EQ(job.status()["active"], 0);
  EXPECT_EQ(job.status()["failed"], 0);
  EXPECT_FALSE(job.status().value("startTime", "").empty());
  EXPECT_FALSE(job.status().value("completionTime", "").empty());
  Json complete = Condition(job, "Complete");
  EXPECT_EQ(complete["reason"], "CompletionsReached");
  EXPECT_EQ(complete["message"], "Reached expected number of succeeded pods");

  EXPECT_LE(kubelet.max_active(), 2);
  EXPECT_EQ(kubelet.max_active(), 2) << "parallelism 2 should run two pods at once";
  auto pods = PodsOf("batch");
  EXPECT_EQ(pods.size(), 5u) << "exactly `completions` pods when none fails";
  for (const auto& p : pods) {
    auto ref = p.controller_ref();
    ASSERT_TRUE(ref);
    EXPECT_EQ(ref->kind, "Job");
    EXPECT_EQ(ref->uid, created->uid());
    EXPECT_EQ(p.label("controller-uid"), created->uid());
    EXPECT_EQ(p.label("batch.kubernetes.io/job-name"), "batch");
    EXPECT_EQ(p.label("app"), "batch");  // the template's own labels
    EXPECT_EQ(p.spec().value("restartPolicy", ""), "Never");
  }
  EXPECT_TRUE(HasEvent(job, "SuccessfulCreate"));
  EXPECT_TRUE(HasEvent(job, "Completed"));
}

TEST_F(JobTest, FailingPodIsRetriedWithBackOffUntilBackoffLimit) {
  StartManager(100ms);
  TestKubelet kubelet(api_.client(), [](int) { return Outcome::kFail; }, 20ms);
  ASSERT_TRUE(api_.client().Create(NewJob("flaky", {{"backoffLimit", 2}})));

  ASSERT_TRUE(WaitCondition("flaky", "Failed")) << GetJob("flaky").json().dump();
  Object job = GetJob("flaky");
  Json failed = Condition(job, "Failed");
  EXPECT_EQ(failed["reason"], "BackoffLimitExceeded");
  EXPECT_EQ(failed["message"], "Job has reached the specified backoff limit");
  EXPECT_EQ(job.status()["failed"], 3);
  EXPECT_EQ(job.status()["active"], 0);
  EXPECT_TRUE(Condition(job, "Complete").is_null());
  EXPECT_EQ(PodsOf("flaky").size(), 3u) << "one pod and backoffLimit (2) retries";
  // Kubernetes' back-off: the n-th replacement waits base * 2^(n-1) after
  // the failure (the kubelet's 10 ms polling only makes it later).
  for (int n = 1; n <= 2; ++n) {
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(kubelet.seen_at(n) - kubelet.failed_at(n - 1));
    EXPECT_GE(waited.count(), 100 * (1 << (n - 1)) - 15) << "replacement " << n;
  }
  EXPECT_TRUE(HasEvent(job, "BackoffLimitExceeded"));
}

TEST_F(JobTest, DefaultsRunOnePodAndARetrySucceeds) {
  StartManager(50ms);
  TestKubelet kubelet(api_.client(), [](int n) { return n == 0 ? Outcome::kFail : Outcome::kSucceed; }, 30ms);
  ASSERT_TRUE(api_.client().Create(NewJob("once", Json::object())));

  ASSERT_TRUE(WaitCondition("once", "Complete")) << GetJob("once").json().dump();
  Object job = GetJob("once");
  EXPECT_EQ(job.status()["succeeded"], 1);
  EXPECT_EQ(job.status()["failed"], 1);
  EXPECT_EQ(PodsOf("once").size(), 2u);
  EXPECT_EQ(kubelet.max_active(), 1);
}

TEST_F(JobTest, ActiveDeadlineFailsTheJobAndDeletesItsPods) {
  StartManager();
  TestKubelet kubelet(api_.client(), [](int) { return Outcome::kRunForever; }, 0ms);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(api_.client().Create(NewJob("slow", {{"completions", 3}, {"parallelism", 2}, {"activeDeadlineSeconds", 1}})));
  ASSERT_TRUE(test::Eventually([&] { return kubelet.pods_seen() == 2; }));

  ASSERT_TRUE(WaitCondition("slow", "Failed", 5s)) << GetJob("slow").json().dump();
  EXPECT_LE(std::chrono::steady_clock::now() - start, 3s) << "failed long after its deadline";
  Object job = GetJob("slow");
  Json failed = Condition(job, "Failed");
  // The deadline counts from status.startTime, which has second precision as
  // in Kubernetes: the failure is at least 1 s after it.
  EXPECT_GE(failed.value("lastTransitionTime", ""), job.status().value("startTime", "")) << job.status().dump();
  EXPECT_NE(failed.value("lastTransitionTime", ""), job.status().value("startTime", "")) << job.status().dump();
  EXPECT_EQ(failed["reason"], "DeadlineExceeded");
  EXPECT_EQ(failed["message"], "Job was active longer than specified deadline");
  EXPECT_EQ(job.status()["active"], 0);
  EXPECT_TRUE(test::Eventually([&] { return PodsOf("slow").empty(); })) << "the running pods are deleted";
  EXPECT_TRUE(HasEvent(job, "DeadlineExceeded"));
}

TEST_F(JobTest, OnFailureCountsContainerRestartsTowardBackoffLimit) {
  StartManager();
  TestKubelet kubelet(api_.client(), [](int) { return Outcome::kCrashLoop; }, 30ms);
  ASSERT_TRUE(api_.client().Create(NewJob("crashy", {{"backoffLimit", 3}}, "OnFailure")));

  ASSERT_TRUE(WaitCondition("crashy", "Failed")) << GetJob("crashy").json().dump();
  EXPECT_EQ(Condition(GetJob("crashy"), "Failed")["reason"], "BackoffLimitExceeded");
  EXPECT_EQ(kubelet.pods_seen(), 1) << "OnFailure restarts in place: no new pod";
  EXPECT_TRUE(test::Eventually([&] { return PodsOf("crashy").empty(); }));
}

TEST_F(JobTest, WorkQueueStyleStopsCreatingAfterTheFirstSuccess) {
  StartManager();
  // No completions: `parallelism` workers take items from a queue; the Job
  // is complete once one has succeeded and none runs any more.
  std::atomic<bool> release{false};
  TestKubelet kubelet(api_.client(), [&](int n) {
    return n == 0 || release ? Outcome::kSucceed : Outcome::kRunForever;
  }, 50ms);
  ASSERT_TRUE(api_.client().Create(NewJob("queue", {{"parallelism", 3}})));
  ASSERT_TRUE(test::Eventually([&] { return Object::Field(GetJob("queue").status(), "succeeded") == 1; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(Condition(GetJob("queue"), "Complete").is_null()) << "two workers still run";
  EXPECT_EQ(kubelet.pods_seen(), 3) << "no new pod after a success";
  release = true;
  ASSERT_TRUE(WaitCondition("queue", "Complete"));
  EXPECT_EQ(GetJob("queue").status()["succeeded"], 3);
  EXPECT_EQ(PodsOf("queue").size(), 3u);
}

}  // namespace
}  // namespace bosun::reconciler
