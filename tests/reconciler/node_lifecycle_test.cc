// The node lifecycle controller against a real API server
// (test::InProcessApi), with short, configured periods. The test plays the
// node daemons: it registers Nodes and renews their Leases in
// kube-node-lease exactly as `bosun node` does (spec.renewTime, RFC 3339 with
// microseconds), and stops renewing to simulate a dead node.
#include "reconciler/node_lifecycle_controller.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "reconciler/job_controller.h"
#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::reconciler {
namespace {

using namespace std::chrono_literals;
using Clk = std::chrono::steady_clock;

const KindInfo& Kind(const char* k) { return *KindRegistry::Builtin().FindKind(k); }

// Renews the Lease of every node it is told to keep alive, every 100 ms.
class LeaseRenewer {
 public:
  explicit LeaseRenewer(state::Client& client) : client_(client), thread_([this] { Loop(); }) {}
  ~LeaseRenewer() {
    stop_ = true;
    thread_.join();
  }
  void SetAlive(const std::string& node, bool alive) {
    std::lock_guard<std::mutex> lock(mu_);
    if (alive) {
      alive_.insert(node);
    } else {
      alive_.erase(node);
    }
  }
  // When the lease of `node` was last renewed.
  Clk::time_point last_renewal(const std::string& node) {
    std::lock_guard<std::mutex> lock(mu_);
    return last_[node];
  }

 private:
  void Loop() {
    while (!stop_) {
      std::set<std::string> nodes;
      {
        std::lock_guard<std::mutex> lock(mu_);
        nodes = alive_;
      }
      for (const auto& n : nodes) {
        Object lease(GroupVersionKind{"coordination.k8s.io", "v1", "Lease"}, kNodeLeaseNamespace, n);
        auto cur = client_.Get(Kind("Lease"), kNodeLeaseNamespace, n);
        if (cur) lease = *cur;
        auto now = Clock::System().Now();
        auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
        std::string ts = FormatRfc3339(now);
        ts.insert(ts.size() - 1, "." + std::to_string(1000000 + micros).substr(1));
        lease.json()["spec"] = {{"holderIdentity", n}, {"leaseDurationSeconds", 40}, {"renewTime", ts}};
        auto r = cur ? client_.Update(lease) : client_.Create(lease);
        if (r) {
          std::lock_guard<std::mutex> lock(mu_);
          last_[n] = Clk::now();
        }
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  state::Client& client_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<std::string> alive_;                 // guarded by mu_
  std::map<std::string, Clk::time_point> last_;  // guarded by mu_
  std::thread thread_;
};

class NodeLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_.CreateNamespaces({kNodeLeaseNamespace});  // as a node daemon makes it
    renewer_ = std::make_unique<LeaseRenewer>(api_.client());
  }
  void TearDown() override {
    if (mgr_) mgr_->Stop();
    renewer_.reset();
  }

  void Start(bool with_jobs = false) {
    ManagerOptions mo;
    mo.sync_timeout = 10s;
    mgr_ = std::make_unique<ControllerManager>(&api_.client(), &Clock::System(), mo);
    NodeLifecycleOptions o;
    o.node_monitor_grace = kGrace;
    o.pod_eviction_timeout = kEviction;
    ASSERT_TRUE(AddNodeLifecycleController(*mgr_, o));
    if (with_jobs) {
      JobControllerOptions jo;
      jo.backoff_base = 50ms;
      ASSERT_TRUE(AddJobController(*mgr_, jo));
    }
    auto s = mgr_->Start();
    ASSERT_TRUE(s) << s.error().message();
  }

  // A Node as `bosun node` registers it, Ready, its lease renewed.
  void AddNode(const std::string& name) {
    Object node(GroupVersionKind{"", "v1", "Node"}, "", name);
    ASSERT_TRUE(api_.client().Create(node));
    WriteReady(name);
    renewer_->SetAlive(name, true);
  }
  // What the daemon writes with its status: Ready=True, heartbeat now.
  void WriteReady(const std::string& name) {
    Object node(GroupVersionKind{"", "v1", "Node"}, "", name);
    std::string now = FormatRfc3339(Clock::System().Now());
    node.json()["status"] = {{"conditions", Json::array({{{"type", "Ready"},
                                                          {"status", "True"},
                                                          {"reason", "KubeletReady"},
                                                          {"message", "bosun node is posting ready status"},
                                                          {"lastHeartbeatTime", now},
                                                          {"lastTransitionTime", now}}})}};
    auto r = api_.client().UpdateStatus(node);
    ASSERT_TRUE(r) << r.error().message();
  }
  Result<Object> AddPod(const std::string& name, const std::string& node, const Json& extra_spec = Json::object()) {
    Object pod(GroupVersionKind{"", "v1", "Pod"}, "default", name);
    Json spec = {{"nodeName", node}, {"containers", Json::array({{{"name", "main"}, {"image", "busybox"}}})}};
    spec.update(extra_spec);
    pod.json()["spec"] = spec;
    return api_.client().Create(pod);
  }
  Object GetNode(const std::string& name) {
    auto r = api_.client().Get(Kind("Node"), "", name);
    EXPECT_TRUE(r);
    return r ? *r : Object();
  }
  bool PodExists(const std::string& name) { return api_.client().Get(Kind("Pod"), "default", name).ok(); }
  static Json Ready(const Object& node) {
    for (const auto& c : Object::Field(node.status(), "conditions")) {
      if (c.value("type", "") == "Ready") return c;
    }
    return nullptr;
  }
  static int UnreachableTaints(const Object& node) {
    int n = 0;
    const Json& taints = Object::Field(node.spec(), "taints");
    if (!taints.is_array()) return 0;
    for (const auto& t : taints) {
      if (t.value("key", "") == kUnreachableTaint) ++n;
    }
    return n;
  }

  static constexpr std::chrono::milliseconds kGrace{1000};
  static constexpr std::chrono::milliseconds kEviction{1000};
  test::TempDir dir_{"bosun-nodelc"};
  test::InProcessApi api_{dir_.Sub("db")};
  std::unique_ptr<LeaseRenewer> renewer_;
  std::unique_ptr<ControllerManager> mgr_;
};

TEST_F(NodeLifecycleTest, SilentNodeIsMarkedUnknownTaintedThenItsPodsEvictedAndItRecovers) {
  AddNode("n1");
  AddNode("n2");
  ASSERT_TRUE(AddPod("on-n1", "n1"));
  ASSERT_TRUE(AddPod("tolerant", "n1", {{"tolerations", Json::array({{{"key", kUnreachableTaint},
                                                                        {"operator", "Exists"},
                                                                        {"effect", "NoExecute"}}})}}));
  ASSERT_TRUE(AddPod("on-n2", "n2"));
  Start();

  // Alive nodes are left alone for several grace periods.
  std::this_thread::sleep_for(kGrace * 2);
  EXPECT_EQ(UnreachableTaints(GetNode("n1")), 0);
  EXPECT_EQ(Ready(GetNode("n1"))["status"], "True");

  renewer_->SetAlive("n1", false);
  std::this_thread::sleep_for(150ms);  // a renewal in flight lands
  auto silent_since = renewer_->last_renewal("n1");

  ASSERT_TRUE(test::Eventually([&] {
    Object n = GetNode("n1");
    return UnreachableTaints(n) == 2 && Ready(n)["status"] == "Unknown";
  }));
  auto marked = Clk::now();
  EXPECT_GE(marked - silent_since, kGrace - 50ms) << "marked before the grace period was over";
  Object n1 = GetNode("n1");
  EXPECT_EQ(Ready(n1)["reason"], "NodeStatusUnknown");
  EXPECT_EQ(Ready(n1)["message"], "Kubelet stopped posting node status.");
  std::set<std::string> effects;
  for (const auto& t : n1.spec()["taints"]) {
    effects.insert(t.value("effect", ""));
    EXPECT_FALSE(t.value("timeAdded", "").empty());
  }
  EXPECT_EQ(effects, (std::set<std::string>{"NoSchedule", "NoExecute"}));
  EXPECT_TRUE(PodExists("on-n1")) << "evicted before the eviction timeout";

  ASSERT_TRUE(test::Eventually([&] { return !PodExists("on-n1"); }));
  auto evicted = Clk::now();
  EXPECT_GE(evicted - silent_since, kGrace + kEviction - 50ms) << "evicted too early";
  EXPECT_LE(evicted - silent_since, kGrace + kEviction + 1500ms) << "evicted too late";
  EXPECT_TRUE(PodExists("tolerant")) << "a pod tolerating unreachable:NoExecute for good stays";
  EXPECT_TRUE(PodExists("on-n2")) << "a healthy node's pod stays";
  EXPECT_EQ(UnreachableTaints(GetNode("n2")), 0);

  // The node comes back: the controller removes its taints; the daemon
  // writes Ready=True itself.
  renewer_->SetAlive("n1", true);
  WriteReady("n1");
  ASSERT_TRUE(test::Eventually([&] { return UnreachableTaints(GetNode("n1")) == 0; }, 5s));
  std::this_thread::sleep_for(kGrace);
  EXPECT_EQ(UnreachableTaints(GetNode("n1")), 0) << "a renewing node must stay untainted";
  EXPECT_EQ(Ready(GetNode("n1"))["status"], "True");

  mgr_->events().Flush();
  auto events = api_.client().List(Kind("Event"), "");
  ASSERT_TRUE(events);
  std::set<std::string> reasons;
  for (const auto& e : events->items) reasons.insert(e.json().value("reason", ""));
  EXPECT_TRUE(reasons.count("NodeNotReady"));
  EXPECT_TRUE(reasons.count("TaintManagerEviction"));
}

TEST_F(NodeLifecycleTest, TolerationSecondsDelaysEviction) {
  AddNode("n1");
  ASSERT_TRUE(AddPod("short", "n1", {{"tolerations", Json::array({{{"key", kUnreachableTaint},
                                                                     {"operator", "Exists"},
                                                                     {"effect", "NoExecute"},
                                                                     {"tolerationSeconds", 0}}})}}));
  ASSERT_TRUE(AddPod("default", "n1"));
  Start();
  renewer_->SetAlive("n1", false);
  ASSERT_TRUE(test::Eventually([&] { return !PodExists("short"); }));
  EXPECT_TRUE(PodExists("default")) << "tolerationSeconds 0 goes at once; the rest waits the eviction timeout";
  ASSERT_TRUE(test::Eventually([&] { return !PodExists("default"); }));
}

TEST_F(NodeLifecycleTest, EvictedJobPodIsReplacedByItsController) {
  AddNode("n1");
  AddNode("n2");
  Start(/*with_jobs=*/true);
  Object job(GroupVersionKind{"batch", "v1", "Job"}, "default", "work");
  job.json()["spec"] = {{"template",
                         {{"spec",
                           {{"restartPolicy", "Never"},
                            {"containers", Json::array({{{"name", "main"}, {"image", "busybox"}}})}}}}}};
  ASSERT_TRUE(api_.client().Create(job));
  // The test binds pods as the scheduler would: to n1 while it is healthy,
  // to n2 once n1 carries the unreachable taint.
  auto bind_pending = [&](const std::string& node) {
    auto pods = api_.client().List(Kind("Pod"), "default", "job-name=work");
    if (!pods) return std::string();
    for (auto p : pods->items) {
      if (!p.spec().value("nodeName", "").empty()) continue;
      p.json()["spec"]["nodeName"] = node;
      auto r = api_.client().Update(p);
      EXPECT_TRUE(r) << r.error().message();
      return p.name();
    }
    return std::string();
  };
  std::string first;
  ASSERT_TRUE(test::Eventually([&] { return !(first = bind_pending("n1")).empty(); }));
  renewer_->SetAlive("n1", false);
  ASSERT_TRUE(test::Eventually([&] { return !PodExists(first); }));
  std::string second;
  ASSERT_TRUE(test::Eventually([&] { return !(second = bind_pending("n2")).empty(); }));
  EXPECT_NE(first, second);
  auto job_now = api_.client().Get(Kind("Job"), "default", "work");
  ASSERT_TRUE(job_now);
  EXPECT_EQ(job_now->status().value("failed", -1), 0) << "an evicted pod is not a failure of the Job";
}

// The grace period is measured with the manager's clock from the last
// renewal the controller saw: with a FakeClock the boundary is exact.
TEST(NodeLifecycleFakeClockTest, GraceIsMeasuredFromTheLastObservedRenewal) {
  test::TempDir dir("bosun-nodelc-fake");
  test::InProcessApi api(dir.Sub("db"));
  FakeClock clock;
  ManagerOptions mo;
  mo.sync_timeout = 10s;
  ControllerManager mgr(&api.client(), &clock, mo);
  NodeLifecycleOptions o;
  o.node_monitor_grace = 40s;  // the defaults: only the fake clock moves
  o.pod_eviction_timeout = 60s;
  ASSERT_TRUE(AddNodeLifecycleController(mgr, o));
  ASSERT_TRUE(api.client().Create(Object(GroupVersionKind{"", "v1", "Node"}, "", "n1")));
  Object pod(GroupVersionKind{"", "v1", "Pod"}, "default", "p");
  pod.json()["spec"] = {{"nodeName", "n1"}, {"containers", Json::array({{{"name", "main"}, {"image", "busybox"}}})}};
  ASSERT_TRUE(api.client().Create(pod));
  ASSERT_TRUE(mgr.Start());
  auto node = [&] { return *api.client().Get(Kind("Node"), "", "n1"); };
  auto tainted = [&] { return Object::Field(node().spec(), "taints").is_array(); };
  // Something changes on the node that is no sign of life (a label): the
  // controller looks again, now.
  int touches = 0;
  auto touch = [&] {
    auto r = api.client().Patch(Kind("Node"), "", "n1", {{"metadata", {{"labels", {{"touch", std::to_string(++touches)}}}}}});
    ASSERT_TRUE(r) << r.error().message();
  };
  std::this_thread::sleep_for(200ms);  // the controller has seen the node

  clock.Advance(39s);
  touch();
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(tainted()) << "tainted before the grace period";

  clock.Advance(2s);
  touch();
  ASSERT_TRUE(test::Eventually(tainted, 5s));
  EXPECT_EQ(Object::Field(node().status(), "conditions")[0].value("status", ""), "Unknown");
  EXPECT_TRUE(api.client().Get(Kind("Pod"), "default", "p").ok()) << "evicted before the eviction timeout";

  clock.Advance(59s);  // 40 s + 60 s after the last sign of life, plus 1 s
  touch();
  EXPECT_TRUE(test::Eventually([&] { return !api.client().Get(Kind("Pod"), "default", "p").ok(); }, 5s));
  mgr.Stop();
}

}  // namespace
}  // namespace bosun::reconciler
