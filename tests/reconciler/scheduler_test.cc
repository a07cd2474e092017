// The scheduler: every filter and score of the algorithm on hand-made nodes
// and pods (exact unschedulable messages), the cache's bookkeeping, the
// sampling of large clusters, and the controller against a real API.
#include "reconciler/scheduler.h"

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/kinds.h"
#include "reconciler/controller.h"
#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::reconciler {
namespace {

using namespace std::chrono_literals;
using Outcome = ScheduleResult::Outcome;

Object MakeNode(const std::string& name, const std::string& cpu = "4", const std::string& memory = "8Gi",
                const std::string& pods = "110") {
  Object n(Json{{"apiVersion", "v1"},
                {"kind", "Node"},
                {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
                {"spec", Json::object()},
                {"status",
                 {{"allocatable", {{"cpu", cpu}, {"memory", memory}, {"pods", pods}}},
                  {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}});
  return n;
}

Object WithLabels(Object o, const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : labels) o.set_label(k, v);
  return o;
}

Object WithTaint(Object node, const std::string& key, const std::string& value, const std::string& effect) {
  node.json()["spec"]["taints"].push_back({{"key", key}, {"value", value}, {"effect", effect}});
  return node;
}

Object WithReady(Object node, const std::string& status) {
  node.json()["status"]["conditions"] = Json::array({{{"type", "Ready"}, {"status", status}}});
  return node;
}

Json Requests(const std::string& cpu, const std::string& memory) {
  Json r = Json::object();
  if (!cpu.empty()) r["cpu"] = cpu;
  if (!memory.empty()) r["memory"] = memory;
  return r;
}

// A pod with one container requesting cpu/memory ("" = nothing).
Object MakePod(const std::string& name, const std::string& cpu = "", const std::string& memory = "") {
  Object p(Json{{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}}},
                {"spec",
                 {{"containers", Json::array({{{"name", "main"},
                                               {"image", "busybox"},
                                               {"resources", {{"requests", Requests(cpu, memory)}}}}})}}}});
  return p;
}

Object OwnedBy(Object pod, const std::string& owner_uid) {
  pod.set_owner_references({OwnerReference{"apps/v1", "ReplicaSet", "rs-" + owner_uid, owner_uid, true, true}});
  return pod;
}

Object BoundTo(Object pod, const std::string& node, const std::string& phase = "Running") {
  pod.json()["spec"]["nodeName"] = node;
  pod.json()["status"]["phase"] = phase;
  return pod;
}

Object WithHostPort(Object pod, int port, const std::string& protocol = "", const std::string& ip = "") {
  Json p = {{"containerPort", port}, {"hostPort", port}};
  if (!protocol.empty()) p["protocol"] = protocol;
  if (!ip.empty()) p["hostIP"] = ip;
  pod.json()["spec"]["containers"][0]["ports"].push_back(p);
  return pod;
}

Object WithToleration(Object pod, Json toleration) {
  pod.json()["spec"]["tolerations"].push_back(std::move(toleration));
  return pod;
}

Object WithRequiredAffinity(Object pod, Json terms) {
  pod.json()["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
      {"nodeSelectorTerms", std::move(terms)}};
  return pod;
}

Json Expr(const std::string& key, const std::string& op, std::vector<std::string> values = {}) {
  Json e = {{"key", key}, {"operator", op}};
  if (!values.empty()) e["values"] = values;
  return e;
}

SchedulerConfig Config(ScoringStrategy s = ScoringStrategy::kLeastAllocated, uint64_t seed = 42) {
  SchedulerConfig c;
  c.scoring = s;
  c.seed = seed;
  return c;
}

ScheduleResult Unschedulable(Scheduler& s, const Object& pod) {
  ScheduleResult r = s.Schedule(pod);
  EXPECT_EQ(r.outcome, Outcome::kUnschedulable) << "placed on " << r.node;
  return r;
}

std::string PlacedOn(Scheduler& s, const Object& pod) {
  ScheduleResult r = s.Schedule(pod);
  EXPECT_EQ(r.outcome, Outcome::kScheduled) << r.message;
  return r.node;
}

// ---- Filters -------------------------------------------------------------

TEST(SchedulerFilter, MessageCountsReasonsAndSortsThemAsKubernetes) {
  Scheduler s(Config());
  for (int i = 0; i < 3; ++i)
    s.UpsertNode(WithLabels(MakeNode("ssd" + std::to_string(i), "4", "1Gi"), {{"disk", "ssd"}}));
  for (int i = 0; i < 2; ++i)
    s.UpsertNode(WithLabels(MakeNode("hdd" + std::to_string(i), "4", "8Gi"), {{"disk", "hdd"}}));
  Object pod = MakePod("web", "100m", "2Gi");
  pod.json()["spec"]["nodeSelector"] = {{"disk", "ssd"}};
  // Go's sort.Strings over "count reason": "2 node(s)…" sorts before "3 Insufficient…".
  EXPECT_EQ(Unschedulable(s, pod).message,
            "0/5 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 3 Insufficient memory.");

  // Ten and nine: compared as strings, "10 …" comes first.
  Scheduler big(Config());
  for (int i = 0; i < 10; ++i) big.UpsertNode(MakeNode("small" + std::to_string(i), "4", "1Gi"));
  for (int i = 0; i < 9; ++i) big.UpsertNode(WithTaint(MakeNode("t" + std::to_string(i)), "team", "a", "NoSchedule"));
  EXPECT_EQ(Unschedulable(big, MakePod("p", "", "2Gi")).message,
            "0/19 nodes are available: 10 Insufficient memory, 9 node(s) had untolerated taint {team: a}.");
}

TEST(SchedulerFilter, NoNodes) {
  Scheduler s(Config());
  EXPECT_EQ(Unschedulable(s, MakePod("p")).message, "no nodes available to schedule pods");
}

TEST(SchedulerFilter, ResourcesCountEveryShortfallAndThePodLimit) {
  Scheduler s(Config());
  s.UpsertNode(MakeNode("n1", "2", "1Gi", "1"));
  s.UpsertPod(BoundTo(MakePod("old", "500m", "128Mi"), "n1"));
  EXPECT_EQ(Unschedulable(s, MakePod("p", "2", "1Gi")).message,
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Too many pods.");
  // A pod that asks for nothing is still held to the pod limit.
  EXPECT_EQ(Unschedulable(s, MakePod("q")).message, "0/1 nodes are available: 1 Too many pods.");
}

TEST(SchedulerFilter, BoundPodsTakeResourcesAndFinishedOrDeletedOnesFreeThem) {
  Scheduler s(Config());
  s.UpsertNode(MakeNode("n1", "4", "8Gi"));
  Object old = BoundTo(MakePod("old", "3"), "n1");
  s.UpsertPod(old);
  Object pod = MakePod("p", "2");
  EXPECT_EQ(Unschedulable(s, pod).message, "0/1 nodes are available: 1 Insufficient cpu.");
  EXPECT_TRUE(s.UpsertPod(BoundTo(MakePod("old", "3"), "n1", "Succeeded")));  // frees its cpu
  EXPECT_EQ(PlacedOn(s, pod), "n1");
  EXPECT_EQ(s.Usage("n1")->milli_cpu, 2000);

  s.UpsertPod(BoundTo(MakePod("other", "2"), "n1"));
  EXPECT_EQ(Unschedulable(s, MakePod("r", "1")).message, "0/1 nodes are available: 1 Insufficient cpu.");
  EXPECT_TRUE(s.RemovePod(BoundTo(MakePod("other", "2"), "n1")));
  EXPECT_EQ(PlacedOn(s, MakePod("r", "1")), "n1");
}

TEST(SchedulerFilter, RequestsAsKubernetesComputesThem) {
  Scheduler s(Config());
  s.UpsertNode(MakeNode("n1", "16", "64Gi"));
  // The largest init container wins over the sum of the containers.
  Object init = MakePod("init", "1", "1Gi");
  init.json()["spec"]["initContainers"] =
      Json::array({{{"name", "setup"}, {"image", "x"}, {"resources", {{"requests", Requests("3", "512Mi")}}}}});
  PlacedOn(s, init);
  EXPECT_EQ(s.Usage("n1")->milli_cpu, 3000);
  EXPECT_EQ(s.Usage("n1")->memory, 1LL << 30);
  // A sidecar (restartPolicy Always) adds to the containers and to the init
  // containers after it: max(1 + 1, 1.5 + 1) = 2.5 cpu; overhead adds 250m.
  Object side = MakePod("side", "1");
  side.json()["spec"]["initContainers"] =
      Json::array({{{"name", "proxy"},
                    {"image", "x"},
                    {"restartPolicy", "Always"},
                    {"resources", {{"requests", Requests("1", "")}}}},
                   {{"name", "migrate"}, {"image", "x"}, {"resources", {{"requests", Requests("1500m", "")}}}}});
  side.json()["spec"]["overhead"] = {{"cpu", "250m"}};
  PlacedOn(s, side);
  EXPECT_EQ(s.Usage("n1")->milli_cpu, 3000 + 2750);
  // Limits without requests are the requests.
  Object limits = MakePod("limits");
  limits.json()["spec"]["containers"][0]["resources"] = {{"limits", {{"cpu", "2"}, {"memory", "1Gi"}}}};
  PlacedOn(s, limits);
  EXPECT_EQ(s.Usage("n1")->milli_cpu, 5750 + 2000);
  EXPECT_EQ(s.Usage("n1")->pods, 3);
}

TEST(SchedulerFilter, UnschedulableNodes) {
  Scheduler s(Config());
  Object cordoned = MakeNode("n1");
  cordoned.json()["spec"]["unschedulable"] = true;
  s.UpsertNode(cordoned);
  EXPECT_EQ(Unschedulable(s, MakePod("p")).message, "0/1 nodes are available: 1 node(s) were unschedulable.");
  Object tolerant = WithToleration(
      MakePod("q"), {{"key", "node.kubernetes.io/unschedulable"}, {"operator", "Exists"}, {"effect", "NoSchedule"}});
  EXPECT_EQ(PlacedOn(s, tolerant), "n1");
}

TEST(SchedulerFilter, NodesThatAreNotReadyCarryKubernetesTaints) {
  Scheduler s(Config());
  s.UpsertNode(WithReady(MakeNode("down"), "False"));
  s.UpsertNode(WithReady(MakeNode("lost"), "Unknown"));
  Object nocond = MakeNode("new");
  nocond.json()["status"].erase("conditions");
  s.UpsertNode(nocond);
  EXPECT_EQ(Unschedulable(s, MakePod("p")).message,
            "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
            "2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.");
  Object tolerant = WithToleration(MakePod("q"), {{"key", "node.kubernetes.io/unreachable"}, {"operator", "Exists"}});
  EXPECT_EQ(PlacedOn(s, tolerant), "lost");
  // Becoming Ready is a change that matters; a heartbeat is not.
  EXPECT_TRUE(s.UpsertNode(MakeNode("down")));
  EXPECT_FALSE(s.UpsertNode(MakeNode("down")));
  EXPECT_EQ(PlacedOn(s, MakePod("r")), "down");
}

TEST(SchedulerFilter, TaintsAndTolerations) {
  Object gpu = WithTaint(MakeNode("gpu"), "dedicated", "gpu", "NoSchedule");
  Object evict = WithTaint(MakeNode("evict"), "maintenance", "", "NoExecute");
  struct Case {
    const char* name;
    Json toleration;  // null: none
    std::set<std::string> fits;
  } cases[] = {
      {"none", nullptr, {}},
      {"equal", {{"key", "dedicated"}, {"operator", "Equal"}, {"value", "gpu"}, {"effect", "NoSchedule"}}, {"gpu"}},
      {"equal-default-op", {{"key", "dedicated"}, {"value", "gpu"}}, {"gpu"}},
      {"wrong-value", {{"key", "dedicated"}, {"value", "cpu"}}, {}},
      {"wrong-effect", {{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoExecute"}}, {}},
      {"exists", {{"key", "maintenance"}, {"operator", "Exists"}}, {"evict"}},
      {"everything", {{"operator", "Exists"}}, {"gpu", "evict"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::set<std::string> placed;
    for (int i = 0; i < 8; ++i) {
      Scheduler s(Config(ScoringStrategy::kLeastAllocated, i + 1));
      s.UpsertNode(gpu);
      s.UpsertNode(evict);
      Object pod = MakePod("p");
      if (!c.toleration.is_null()) pod = WithToleration(pod, c.toleration);
      ScheduleResult r = s.Schedule(pod);
      if (r.outcome == Outcome::kScheduled) placed.insert(r.node);
      EXPECT_EQ(r.feasible, static_cast<int>(c.fits.size()));
      if (c.fits.empty()) {
        EXPECT_EQ(r.message,
                  "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
                  "1 node(s) had untolerated taint {maintenance: }.");
      }
    }
    EXPECT_EQ(placed, c.fits);
  }
  // PreferNoSchedule never filters.
  Scheduler s(Config());
  s.UpsertNode(WithTaint(MakeNode("soft"), "spot", "true", "PreferNoSchedule"));
  EXPECT_EQ(PlacedOn(s, MakePod("p")), "soft");
}

TEST(SchedulerFilter, NodeSelector) {
  Scheduler s(Config());
  s.UpsertNode(WithLabels(MakeNode("a"), {{"zone", "a"}}));
  s.UpsertNode(WithLabels(MakeNode("b"), {{"zone", "b"}, {"disk", "ssd"}}));
  Object pod = MakePod("p");
  pod.json()["spec"]["nodeSelector"] = {{"zone", "b"}, {"disk", "ssd"}};
  EXPECT_EQ(PlacedOn(s, pod), "b");
  pod = MakePod("q");
  pod.json()["spec"]["nodeSelector"] = {{"zone", "a"}, {"disk", "ssd"}};
  EXPECT_EQ(Unschedulable(s, pod).message,
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.");
  pod.json()["spec"]["nodeSelector"] = {{"rack", "r1"}};  // a label no node has
  EXPECT_EQ(Unschedulable(s, pod).message,
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.");
}

TEST(SchedulerFilter, RequiredNodeAffinity) {
  struct Case {
    const char* name;
    Json terms;
    std::set<std::string> fits;
  } cases[] = {
      {"In", {{{"matchExpressions", {Expr("zone", "In", {"a"})}}}}, {"n1"}},
      {"NotIn", {{{"matchExpressions", {Expr("zone", "NotIn", {"a", "b"})}}}}, {"n3"}},
      {"Exists", {{{"matchExpressions", {Expr("gpu", "Exists")}}}}, {"n2"}},
      {"DoesNotExist", {{{"matchExpressions", {Expr("gen", "DoesNotExist")}}}}, {"n3"}},
      {"Gt", {{{"matchExpressions", {Expr("gen", "Gt", {"4"})}}}}, {"n2"}},
      {"Lt", {{{"matchExpressions", {Expr("gen", "Lt", {"4"})}}}}, {"n1"}},
      {"matchFields", {{{"matchFields", {Expr("metadata.name", "In", {"n3"})}}}}, {"n3"}},
      {"ANDed", {{{"matchExpressions", {Expr("zone", "In", {"a", "b"}), Expr("gen", "Gt", {"3"})}}}}, {"n2"}},
      {"ORed",
       {{{"matchExpressions", {Expr("zone", "In", {"c"})}}}, {{"matchExpressions", {Expr("gpu", "Exists")}}}},
       {"n2", "n3"}},
      {"empty-term", {Json::object()}, {}},
      {"Gt-not-a-number", {{{"matchExpressions", {Expr("zone", "Gt", {"1"})}}}}, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::set<std::string> placed;
    for (int i = 0; i < 12; ++i) {
      Scheduler s(Config(ScoringStrategy::kLeastAllocated, i + 1));
      s.UpsertNode(WithLabels(MakeNode("n1"), {{"zone", "a"}, {"gen", "3"}}));
      s.UpsertNode(WithLabels(MakeNode("n2"), {{"zone", "b"}, {"gen", "5"}, {"gpu", "true"}}));
      s.UpsertNode(WithLabels(MakeNode("n3"), {{"zone", "c"}}));
      ScheduleResult r = s.Schedule(WithRequiredAffinity(MakePod("p"), c.terms));
      if (r.outcome == Outcome::kScheduled) placed.insert(r.node);
      if (c.fits.empty()) {
        EXPECT_EQ(r.message, "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.");
      }
    }
    EXPECT_EQ(placed, c.fits);
  }
}

TEST(SchedulerFilter, HostPorts) {
  Scheduler s(Config());
  s.UpsertNode(MakeNode("n1"));
  s.UpsertPod(BoundTo(WithHostPort(MakePod("web"), 8080), "n1"));
  EXPECT_EQ(Unschedulable(s, WithHostPort(MakePod("p"), 8080)).message,
            "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.");
  EXPECT_EQ(Unschedulable(s, WithHostPort(MakePod("p"), 8080, "TCP", "10.0.0.1")).message,
            "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.");
  EXPECT_EQ(PlacedOn(s, WithHostPort(MakePod("udp"), 8080, "UDP")), "n1");
  EXPECT_EQ(PlacedOn(s, WithHostPort(MakePod("other"), 9090, "TCP", "10.0.0.1")), "n1");
  EXPECT_EQ(PlacedOn(s, WithHostPort(MakePod("other-ip"), 9090, "TCP", "10.0.0.2")), "n1");
  EXPECT_EQ(Unschedulable(s, WithHostPort(MakePod("any-ip"), 9090)).message,
            "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.");
  // The port is free again once its pod is gone.
  s.RemovePod(BoundTo(WithHostPort(MakePod("web"), 8080), "n1"));
  EXPECT_EQ(PlacedOn(s, WithHostPort(MakePod("p"), 8080)), "n1");
}

// ---- Scores --------------------------------------------------------------

TEST(SchedulerScore, LeastAllocatedSpreadsMostAllocatedPacks) {
  for (auto strategy : {ScoringStrategy::kLeastAllocated, ScoringStrategy::kMostAllocated}) {
    Scheduler s(Config(strategy));
    s.UpsertNode(MakeNode("busy", "4", "8Gi"));
    s.UpsertNode(MakeNode("idle", "4", "8Gi"));
    s.UpsertPod(BoundTo(MakePod("x", "2", "4Gi"), "busy"));
    std::string want = strategy == ScoringStrategy::kLeastAllocated ? "idle" : "busy";
    EXPECT_EQ(PlacedOn(s, MakePod("p", "500m", "512Mi")), want);
  }
  // Pods asking for nothing still count (100m/200Mi) when scoring.
  Scheduler s(Config());
  s.UpsertNode(MakeNode("a", "1", "1Gi"));
  s.UpsertNode(MakeNode("b", "1", "1Gi"));
  for (int i = 0; i < 3; ++i) s.UpsertPod(BoundTo(MakePod("x" + std::to_string(i)), "a"));
  EXPECT_EQ(PlacedOn(s, MakePod("p")), "b");
}

TEST(SchedulerScore, ReplicasOfOneOwnerSpreadAcrossNodes) {
  Scheduler s(Config());
  s.UpsertNode(MakeNode("n1"));
  s.UpsertNode(MakeNode("n2"));
  // Same load on both; only n1 already runs a replica of "rs".
  s.UpsertPod(BoundTo(OwnedBy(MakePod("rs-0", "100m"), "rs"), "n1"));
  s.UpsertPod(BoundTo(OwnedBy(MakePod("other-0", "100m"), "other"), "n2"));
  EXPECT_EQ(PlacedOn(s, OwnedBy(MakePod("rs-1", "100m"), "rs")), "n2");

  Scheduler even(Config());
  for (int i = 0; i < 5; ++i) even.UpsertNode(MakeNode("n" + std::to_string(i)));
  std::map<std::string, int> per_node;
  for (int i = 0; i < 15; ++i) ++per_node[PlacedOn(even, OwnedBy(MakePod("web-" + std::to_string(i), "10m"), "web"))];
  for (const auto& [node, n] : per_node) EXPECT_EQ(n, 3) << node;
}

TEST(SchedulerScore, PreferredNodeAffinityWeights) {
  Scheduler s(Config());
  s.UpsertNode(WithLabels(MakeNode("a"), {{"zone", "a"}}));
  s.UpsertNode(WithLabels(MakeNode("b"), {{"zone", "b"}, {"gpu", "true"}}));
  s.UpsertNode(WithLabels(MakeNode("c"), {{"zone", "c"}}));
  Object pod = MakePod("p");
  pod.json()["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = {
      {{"weight", 10}, {"preference", {{"matchExpressions", {Expr("zone", "In", {"a"})}}}}},
      {{"weight", 80}, {"preference", {{"matchExpressions", {Expr("gpu", "Exists")}}}}}};
  for (int i = 0; i < 5; ++i) {
    Scheduler fresh(Config());
    fresh.UpsertNode(WithLabels(MakeNode("a"), {{"zone", "a"}}));
    fresh.UpsertNode(WithLabels(MakeNode("b"), {{"zone", "b"}, {"gpu", "true"}}));
    fresh.UpsertNode(WithLabels(MakeNode("c"), {{"zone", "c"}}));
    EXPECT_EQ(PlacedOn(fresh, pod), "b");
  }
  // Without the heavier term, zone a wins.
  pod.json()["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"].erase(1);
  EXPECT_EQ(PlacedOn(s, pod), "a");
}

TEST(SchedulerScore, UntoleratedPreferNoScheduleTaintsAreAvoided) {
  for (int i = 0; i < 5; ++i) {
    Scheduler s(Config());
    s.UpsertNode(WithTaint(MakeNode("spot"), "spot", "true", "PreferNoSchedule"));
    s.UpsertNode(MakeNode("plain"));
    EXPECT_EQ(PlacedOn(s, MakePod("p" + std::to_string(i))), "plain");
  }
  // A pod that tolerates it has no reason to avoid it: both get chosen.
  std::set<std::string> placed;
  for (int i = 0; i < 16; ++i) {
    Scheduler s(SchedulerConfig{ScoringStrategy::kLeastAllocated, 0, static_cast<uint64_t>(i + 1)});
    s.UpsertNode(WithTaint(MakeNode("spot"), "spot", "true", "PreferNoSchedule"));
    s.UpsertNode(MakeNode("plain"));
    placed.insert(PlacedOn(s, WithToleration(MakePod("t"), {{"key", "spot"}, {"operator", "Exists"}})));
  }
  EXPECT_EQ(placed, (std::set<std::string>{"plain", "spot"}));
}

// ---- The cache and large clusters -----------------------------------------

TEST(SchedulerCache, AssumeConfirmForgetAndNodesComingAndGoing) {
  Scheduler s(Config());
  s.UpsertNode(MakeNode("n1", "4"));
  Object pod = MakePod("p", "1");
  EXPECT_EQ(PlacedOn(s, pod), "n1");
  EXPECT_EQ(s.Usage("n1")->milli_cpu, 1000);  // assumed: the next pod sees it
  EXPECT_EQ(s.Schedule(pod).outcome, Outcome::kAlreadyBound);
  s.Forget(pod);  // the bind failed
  EXPECT_EQ(s.Usage("n1")->milli_cpu, 0);

  EXPECT_EQ(PlacedOn(s, pod), "n1");
  s.UpsertPod(BoundTo(pod, "n1"));  // the informer confirms it
  s.Forget(pod);
  EXPECT_EQ(s.Usage("n1")->milli_cpu, 1000);

  // Pods bound to a node that is gone keep their place until they go.
  EXPECT_TRUE(s.RemoveNode("n1"));
  EXPECT_EQ(s.num_nodes(), 0u);
  EXPECT_EQ(s.Usage("n1")->pods, 1);
  s.UpsertNode(MakeNode("n1", "4"));
  EXPECT_EQ(Unschedulable(s, MakePod("q", "3500m")).message, "0/1 nodes are available: 1 Insufficient cpu.");
  // A pod heard of before its node.
  s.UpsertPod(BoundTo(MakePod("early", "2"), "n2"));
  s.UpsertNode(MakeNode("n2", "4"));
  EXPECT_EQ(s.Usage("n2")->milli_cpu, 2000);
  // A pod replaced by another of the same name is counted once.
  s.UpsertPod(BoundTo(MakePod("early", "2"), "n2"));
  Object again = BoundTo(MakePod("early", "1"), "n2");
  again.set_uid("uid-early-2");
  EXPECT_TRUE(s.UpsertPod(again));
  EXPECT_EQ(s.Usage("n2")->milli_cpu, 1000);
  EXPECT_EQ(s.Usage("n2")->pods, 1);
}

TEST(SchedulerCache, LargeClustersAreSampledFromARotatingStart) {
  struct Case {
    int nodes;
    int percentage;
    int evaluated;
  } cases[] = {{50, 0, 50},       {1000, 0, 420},  {5000, 0, 500}, {20000, 0, 1000},
               {1000, 100, 1000}, {1000, 20, 200}, {300, 10, 100}};
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.nodes) + " nodes, " + std::to_string(c.percentage) + "%");
    Scheduler s(SchedulerConfig{ScoringStrategy::kLeastAllocated, c.percentage, 7});
    for (int i = 0; i < c.nodes; ++i) s.UpsertNode(MakeNode("n" + std::to_string(100000 + i)));
    ScheduleResult r = s.Schedule(MakePod("a"));
    EXPECT_EQ(r.evaluated, c.evaluated);
    EXPECT_EQ(r.feasible, c.evaluated);
    int first = std::stoi(r.node.substr(1)) - 100000;
    EXPECT_LT(first, c.evaluated);
    // The next pod's search starts where this one stopped.
    ScheduleResult next = s.Schedule(MakePod("b"));
    int second = std::stoi(next.node.substr(1)) - 100000;
    if (c.evaluated < c.nodes) {
      EXPECT_GE(second, c.evaluated);
      EXPECT_LT(second, std::min(2 * c.evaluated, c.nodes)) << "wraps past the end only when it must";
    }
  }
  // Infeasible nodes are skipped, and an unschedulable pod looks at all.
  Scheduler s(Config());
  for (int i = 0; i < 1000; ++i) s.UpsertNode(MakeNode("n" + std::to_string(i), i % 2 ? "4" : "1"));
  ScheduleResult r = s.Schedule(MakePod("a", "2"));
  EXPECT_EQ(r.feasible, 420);
  EXPECT_EQ(r.evaluated, 840);
  EXPECT_EQ(Unschedulable(s, MakePod("big", "8")).message, "0/1000 nodes are available: 1000 Insufficient cpu.");
}

// ---- The controller against a real API -------------------------------------

const KindInfo& Kind(const std::string& k) {
  return *KindRegistry::Builtin().FindKind(k);
}

class SchedulerControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ManagerOptions mo;
    mo.sync_timeout = 10s;
    mgr_ = std::make_unique<ControllerManager>(&api_.client(), &Clock::System(), mo);
    SchedulerOptions so;
    so.seed = 1;
    // Long enough that only a change the scheduler hears of (a node added,
    // a pod finished) can get an unschedulable pod bound within the tests.
    so.initial_backoff = 60s;
    so.max_backoff = 60s;
    ASSERT_TRUE(AddScheduler(*mgr_, so));
  }
  void TearDown() override { mgr_->Stop(); }

  void Create(const Object& o) {
    auto r = api_.client().Create(o);
    ASSERT_TRUE(r) << r.error().message();
  }
  Object Get(const std::string& name) {
    auto r = api_.client().Get(Kind("Pod"), "default", name);
    return r ? *r : Object();
  }
  static std::string NodeOf(const Object& pod) { return pod.spec().value("nodeName", ""); }
  static Json Condition(const Object& pod) {
    for (const auto& c : Object::Field(pod.status(), "conditions")) {
      if (c.value("type", "") == "PodScheduled") return c;
    }
    return nullptr;
  }
  std::vector<std::string> Events(const Object& pod, const std::string& reason) {
    mgr_->events().Flush();
    std::vector<std::string> out;
    auto r = api_.client().List(Kind("Event"), "default");
    if (!r) return out;
    for (const auto& e : r->items) {
      if (e.json()["involvedObject"].value("name", "") == pod.name() && e.json().value("reason", "") == reason) {
        out.push_back(e.json().value("message", ""));
      }
    }
    return out;
  }

  test::TempDir dir_{"bosun-scheduler"};
  test::InProcessApi api_{dir_.Sub("db")};
  std::unique_ptr<ControllerManager> mgr_;
};

TEST_F(SchedulerControllerTest, BindsPendingPodsWithinResourcesAndRetriesUnschedulableOnes) {
  Create(MakeNode("n1", "2", "4Gi"));
  Create(MakeNode("n2", "2", "4Gi"));
  for (int i = 0; i < 4; ++i) {
    Object pod = MakePod("p" + std::to_string(i), "1", "1Gi");
    pod.json()["metadata"].erase("uid");
    Create(pod);
  }
  Object other = MakePod("elsewhere", "1");
  other.json()["metadata"].erase("uid");
  other.json()["spec"]["schedulerName"] = "another-scheduler";
  Create(other);
  ASSERT_TRUE(mgr_->Start());

  ASSERT_TRUE(test::Eventually([&] {
    for (int i = 0; i < 4; ++i) {
      if (NodeOf(Get("p" + std::to_string(i))).empty()) return false;
    }
    return true;
  }));
  std::map<std::string, int> per_node;
  for (int i = 0; i < 4; ++i) ++per_node[NodeOf(Get("p" + std::to_string(i)))];
  EXPECT_EQ(per_node, (std::map<std::string, int>{{"n1", 2}, {"n2", 2}}));  // 2 cpu each
  Object p0 = Get("p0");
  EXPECT_TRUE(test::Eventually([&] { return !Events(p0, "Scheduled").empty(); }));
  EXPECT_EQ(Events(p0, "Scheduled"), std::vector<std::string>{"Successfully assigned default/p0 to " + NodeOf(p0)});

  // Full: the fifth pod is unschedulable, and says why.
  Object p4 = MakePod("p4", "1", "1Gi");
  p4.json()["metadata"].erase("uid");
  Create(p4);
  const std::string why = "0/2 nodes are available: 2 Insufficient cpu.";
  ASSERT_TRUE(test::Eventually([&] { return !Condition(Get("p4")).is_null(); })) << Get("p4").json().dump();
  Json cond = Condition(Get("p4"));
  EXPECT_EQ(cond.value("status", ""), "False");
  EXPECT_EQ(cond.value("reason", ""), "Unschedulable");
  EXPECT_EQ(cond.value("message", ""), why);
  EXPECT_TRUE(test::Eventually([&] { return Events(Get("p4"), "FailedScheduling") == std::vector<std::string>{why}; }));
  EXPECT_EQ(NodeOf(Get("p4")), "");

  // A node that fits arrives: the pod is bound there at once (not after a back-off).
  Create(MakeNode("n3", "2", "4Gi"));
  ASSERT_TRUE(test::Eventually([&] { return NodeOf(Get("p4")) == "n3"; }, 3s)) << Get("p4").json().dump();
  EXPECT_TRUE(test::Eventually([&] { return Condition(Get("p4")).value("status", "") == "True"; }));
  EXPECT_EQ(NodeOf(Get("elsewhere")), "") << "pods of another scheduler are left alone";
}

TEST_F(SchedulerControllerTest, AFinishedPodMakesRoomForAWaitingOne) {
  Create(MakeNode("n1", "1", "4Gi"));
  Object a = MakePod("a", "1");
  a.json()["metadata"].erase("uid");
  Create(a);
  ASSERT_TRUE(mgr_->Start());
  ASSERT_TRUE(test::Eventually([&] { return NodeOf(Get("a")) == "n1"; }));
  Object b = MakePod("b", "1");
  b.json()["metadata"].erase("uid");
  Create(b);
  ASSERT_TRUE(test::Eventually([&] { return !Condition(Get("b")).is_null(); }));
  EXPECT_EQ(Condition(Get("b")).value("message", ""), "0/1 nodes are available: 1 Insufficient cpu.");

  // The node reports the first pod finished: its cpu is free again.
  Object done = Get("a");
  done.json()["status"]["phase"] = "Succeeded";
  auto r = api_.client().UpdateStatus(done);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(test::Eventually([&] { return NodeOf(Get("b")) == "n1"; }, 3s));
}

}  // namespace
}  // namespace bosun::reconciler
