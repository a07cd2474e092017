// bench_scheduler: schedules --pods pods onto --nodes simulated nodes (by
// default 150,000 onto 5,000, Kubernetes' published scale limits) through
// the real scheduler code, with no API and no containers:
//
//  1. the algorithm alone: Scheduler::Schedule on one thread, each pod
//     assumed on the node chosen (filters, scores, the cache);
//  2. the controller: the nodes and pending pods seeded into a
//     ControllerManager's shared informers, AddScheduler with an in-memory
//     Binder — informer handlers → work queue → schedule → bind → the bound
//     pod stored back into the informer, which confirms it in the cache.
//
// The workload: ReplicaSet-like owners of 50 replicas each with varied cpu
// and memory requests; 10% of owners select disk=ssd nodes, 5% tolerate the
// dedicated=gpu:NoSchedule taint of every 20th node and require gpu=true,
// 10% prefer a zone. Every pod fits somewhere.
//
// Prints pods/s and the p50/p99 time per pod (one scheduling attempt:
// filter, score, assume, bind), and the ratio against kube-scheduler's
// published 5,000-node CI floor (not measured here) and against the target.
//
//   build/bench/bench_scheduler [--pods 150000] [--nodes 5000] [--workers 2]
//                               [--most-allocated] [--skip-algorithm]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "reconciler/controller.h"
#include "reconciler/scheduler.h"

namespace bosun::reconciler {
namespace {

constexpr int kReplicas = 50;
// kube-scheduler's scheduler_perf SchedulingBasic at 5,000 nodes, as
// published (the figures); not measured by this program.
constexpr double kKubeFloorLow = 680;
constexpr double kKubeFloorHigh = 810;
constexpr double kTarget = 5000;

Object MakeNode(int i) {
  std::string name = "node-" + std::to_string(100000 + i).substr(1);
  Json labels = {{"kubernetes.io/hostname", name},
                 {"kubernetes.io/os", "linux"},
                 {"topology.kubernetes.io/zone", "zone-" + std::to_string(i % 5)},
                 {"disk", i % 3 == 0 ? "ssd" : "hdd"},
                 {"node.kubernetes.io/instance-type", i % 2 ? "m.8xlarge" : "c.8xlarge"}};
  Json spec = Json::object();
  if (i % 20 == 0) {
    labels["gpu"] = "true";
    spec["taints"] = Json::array({{{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoSchedule"}}});
  }
  return Object(
      Json{{"apiVersion", "v1"},
           {"kind", "Node"},
           {"metadata", {{"name", name}, {"resourceVersion", "1"}, {"uid", "node-uid-" + name}, {"labels", labels}}},
           {"spec", spec},
           {"status",
            {{"allocatable", {{"cpu", "32"}, {"memory", "128Gi"}, {"pods", "110"}}},
             {"capacity", {{"cpu", "32"}, {"memory", "128Gi"}, {"pods", "110"}}},
             {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}});
}

Object MakePod(int owner, int replica) {
  static const char* cpus[] = {"100m", "250m", "500m", "1"};
  static const char* mems[] = {"128Mi", "256Mi", "512Mi", "1Gi"};
  std::string owner_name = "web-" + std::to_string(owner);
  std::string name = owner_name + "-" + std::to_string(replica);
  std::string owner_uid = "owner-uid-" + std::to_string(owner);
  Json spec = {
      {"containers", Json::array({{{"name", "app"},
                                   {"image", "registry.example/app:1"},
                                   {"resources",
                                    {{"requests", {{"cpu", cpus[owner % 4]}, {"memory", mems[(owner / 4) % 4]}}},
                                     {"limits", {{"memory", mems[(owner / 4) % 4]}}}}}}})},
      {"restartPolicy", "Always"}};
  if (owner % 20 == 1) {
    spec["tolerations"] =
        Json::array({{{"key", "dedicated"}, {"operator", "Equal"}, {"value", "gpu"}, {"effect", "NoSchedule"}}});
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
        {"nodeSelectorTerms",
         Json::array(
             {{{"matchExpressions", Json::array({{{"key", "gpu"}, {"operator", "In"}, {"values", {"true"}}}})}}})}};
  } else if (owner % 10 == 2) {
    spec["nodeSelector"] = {{"disk", "ssd"}};
  } else if (owner % 10 == 3) {
    spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] =
        Json::array({{{"weight", 50},
                      {"preference",
                       {{"matchExpressions", Json::array({{{"key", "topology.kubernetes.io/zone"},
                                                           {"operator", "In"},
                                                           {"values", {"zone-" + std::to_string(owner % 5)}}}})}}}}});
  }
  Object pod(Json{{"apiVersion", "v1"},
                  {"kind", "Pod"},
                  {"metadata",
                   {{"name", name},
                    {"namespace", "bench-" + std::to_string(owner % 10)},
                    {"uid", "pod-uid-" + name},
                    {"resourceVersion", "1"},
                    {"labels", {{"app", owner_name}, {"pod-template-hash", "5d8f7c9b6"}}}}},
                  {"spec", spec},
                  {"status", {{"phase", "Pending"}}}});
  pod.set_owner_references({OwnerReference{"apps/v1", "ReplicaSet", owner_name, owner_uid, true, true}});
  return pod;
}

// Binds in memory: the pod as the API would answer, with spec.nodeName set
// and a new resourceVersion.
class MemoryBinder final : public Binder {
 public:
  explicit MemoryBinder(int64_t want) : want_(want) {}
  Result<Object> Bind(const Object& pod, const std::string& node) override {
    Object out = pod;
    out.json()["spec"]["nodeName"] = node;
    out.set_resource_version(std::to_string(rv_.fetch_add(1) + 2));
    if (bound_.fetch_add(1) + 1 == want_) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    return out;
  }
  bool Wait(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return bound_.load() >= want_; });
  }
  int64_t bound() const { return bound_.load(); }

 private:
  const int64_t want_;
  std::atomic<int64_t> rv_{0};
  std::atomic<int64_t> bound_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

// User + system CPU seconds of the whole process so far.
double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct Stats {
  double seconds = 0;
  double pods_per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

Stats Summarize(std::vector<int64_t> ns, int64_t pods, double seconds) {
  Stats s;
  s.seconds = seconds;
  s.pods_per_second = pods / seconds;
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) { return ns[std::min(ns.size() - 1, static_cast<size_t>(q * ns.size()))] / 1000.0; };
  s.p50_us = at(0.50);
  s.p99_us = at(0.99);
  s.max_us = ns.back() / 1000.0;
  return s;
}

void Print(const char* what, const Stats& s) {
  std::printf("%-58s %9.0f pods/s  %7.2f s  p50 %7.1f us  p99 %7.1f us  max %8.1f us\n", what, s.pods_per_second,
              s.seconds, s.p50_us, s.p99_us, s.max_us);
}

int Run(int argc, char** argv) {
  int pods = 150000;
  int nodes = 5000;
  int workers = 2;
  bool most = false;
  bool skip_algorithm = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_scheduler: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (a == "--pods") {
      pods = next();
    } else if (a == "--nodes") {
      nodes = next();
    } else if (a == "--workers") {
      workers = next();
    } else if (a == "--most-allocated") {
      most = true;
    } else if (a == "--skip-algorithm") {
      skip_algorithm = true;
    } else {
      std::fprintf(stderr,
                   "usage: bench_scheduler [--pods N] [--nodes N] [--workers N] [--most-allocated] "
                   "[--skip-algorithm]\n");
      return 2;
    }
  }
  if (pods <= 0 || nodes <= 0 || workers <= 0) {
    std::fprintf(stderr, "bench_scheduler: --pods, --nodes and --workers must be positive\n");
    return 2;
  }
  log::SetLevel(log::Level::kWarn);
  const ScoringStrategy scoring = most ? ScoringStrategy::kMostAllocated : ScoringStrategy::kLeastAllocated;
  const int owners = (pods + kReplicas - 1) / kReplicas;
  std::printf("bench_scheduler: %d pods (%d owners x %d replicas) onto %d nodes, %s, %d controller workers\n", pods,
              owners, kReplicas, nodes, most ? "MostAllocated" : "LeastAllocated", workers);

  std::vector<Object> node_objects;
  node_objects.reserve(nodes);
  for (int i = 0; i < nodes; ++i) node_objects.push_back(MakeNode(i));
  auto pod_at = [&](int k) { return MakePod(k / kReplicas, k % kReplicas); };

  // 1. The algorithm alone.
  if (!skip_algorithm) {
    Scheduler s(SchedulerConfig{scoring, 0, 1});
    for (const auto& n : node_objects) s.UpsertNode(n);
    std::vector<Object> batch;
    std::vector<int64_t> ns;
    ns.reserve(pods);
    double seconds = 0;
    double cpu = 0;
    int unschedulable = 0;
    int64_t evaluated = 0;
    for (int k = 0; k < pods; k += 10000) {
      batch.clear();
      for (int j = k; j < std::min(pods, k + 10000); ++j) batch.push_back(pod_at(j));
      auto t0 = std::chrono::steady_clock::now();
      double c0 = ThreadCpuSeconds();
      for (const auto& p : batch) {
        auto a = std::chrono::steady_clock::now();
        ScheduleResult r = s.Schedule(p);
        ns.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - a).count());
        evaluated += r.evaluated;
        if (r.outcome != ScheduleResult::Outcome::kScheduled) ++unschedulable;
      }
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      cpu += ThreadCpuSeconds() - c0;
    }
    Print("algorithm alone (Scheduler::Schedule, 1 thread)", Summarize(std::move(ns), pods, seconds));
    std::printf("  nodes filtered per pod: %.0f; unschedulable: %d; CPU %.2f s = %.0f pods per CPU-second\n",
                static_cast<double>(evaluated) / pods, unschedulable, cpu, pods / cpu);
  }

  // 2. The controller, end to end in memory.
  ControllerManager mgr(nullptr, &Clock::System(),
                        ManagerOptions{std::chrono::seconds(10), std::chrono::milliseconds(0)});
  auto binder = std::make_shared<MemoryBinder>(pods);
  std::vector<int64_t> attempt_ns(static_cast<size_t>(pods) * 2);
  std::atomic<size_t> attempts{0};
  SchedulerOptions so;
  so.scoring = scoring;
  so.workers = workers;
  so.seed = 1;
  so.binder = binder;
  so.on_attempt = [&](std::chrono::nanoseconds d) {
    size_t i = attempts.fetch_add(1);
    if (i < attempt_ns.size()) attempt_ns[i] = d.count();
  };
  if (auto st = AddScheduler(mgr, so); !st) {
    std::fprintf(stderr, "bench_scheduler: %s\n", st.error().message().c_str());
    return 1;
  }
  mgr.Informer("Node").Seed(node_objects);
  node_objects.clear();
  node_objects.shrink_to_fit();
  auto seed_start = std::chrono::steady_clock::now();
  std::vector<Object> batch;
  for (int k = 0; k < pods; k += 10000) {
    batch.clear();
    for (int j = k; j < std::min(pods, k + 10000); ++j) batch.push_back(pod_at(j));
    mgr.Informer("Pod").Seed(batch);
  }
  batch.clear();
  double seed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - seed_start).count();
  std::printf("  seeded %d pods into the informer in %.2f s (not timed below)\n", pods, seed_s);

  auto t0 = std::chrono::steady_clock::now();
  double cpu0 = CpuSeconds();
  if (auto st = mgr.Start(); !st) {
    std::fprintf(stderr, "bench_scheduler: %s\n", st.error().message().c_str());
    return 1;
  }
  bool all = binder->Wait(std::chrono::seconds(600));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = CpuSeconds() - cpu0;
  mgr.Stop();
  size_t n = std::min(attempts.load(), attempt_ns.size());
  attempt_ns.resize(n);
  Stats st = Summarize(std::move(attempt_ns), pods, seconds);
  Print("controller (informers -> queue -> schedule -> bind -> cache)", st);
  std::printf("  attempts: %zu for %lld pods bound; CPU %.2f s = %.0f pods per CPU-second (%.2f cores busy)\n", n,
              static_cast<long long>(binder->bound()), cpu, pods / cpu, cpu / seconds);
  if (!all) {
    std::printf("NOT ALL PODS WERE BOUND: %lld of %d\n", static_cast<long long>(binder->bound()), pods);
    return 1;
  }
  std::printf("vs kube-scheduler's published 5,000-node CI floor (%.0f-%.0f pods/s, not measured here): %.1f-%.1fx\n",
              kKubeFloorLow, kKubeFloorHigh, st.pods_per_second / kKubeFloorHigh, st.pods_per_second / kKubeFloorLow);
  std::printf("vs the target (%.0f pods/s on this 2-core machine): %.2fx%s\n", kTarget, st.pods_per_second / kTarget,
              st.pods_per_second >= kTarget ? "" : "  (BELOW TARGET)");
  return 0;
}

}  // namespace
}  // namespace bosun::reconciler

int main(int argc, char** argv) {
  return bosun::reconciler::Run(argc, argv);
}
