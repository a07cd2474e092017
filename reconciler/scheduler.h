// reconciler/scheduler.h — the scheduler: binds pending pods to nodes with
// kube-scheduler's algorithm (issue 6), in two layers.
//
// Scheduler is the algorithm as a library: a cache of nodes (allocatable cpu,
// memory and pods, labels, taints, spec.unschedulable, the Ready condition)
// and of the pods bound to each (their summed requests, host ports, and how
// many replicas of each owner), kept incrementally from informer events, and
// Schedule, which filters nodes, scores the feasible ones and picks one.
//
//  Filters, in kube-scheduler's order; a node fails on the first that rejects
//  it, and the reasons use kube-scheduler's words:
//   - NodeUnschedulable: spec.unschedulable (unless the pod tolerates the
//     node.kubernetes.io/unschedulable:NoSchedule taint) — "node(s) were
//     unschedulable";
//   - TaintToleration: a NoSchedule or NoExecute taint the pod does not
//     tolerate — "node(s) had untolerated taint {key: value}". A node whose
//     Ready condition is not True carries, as in Kubernetes (where the node
//     lifecycle controller adds it), the taint node.kubernetes.io/not-ready
//     (Ready False or missing) or node.kubernetes.io/unreachable (Unknown)
//     with effect NoSchedule, so pods that tolerate it may still go there;
//   - NodeAffinity: spec.nodeSelector and required node affinity
//     (nodeSelectorTerms, ORed; matchExpressions In/NotIn/Exists/DoesNotExist/
//     Gt/Lt and matchFields metadata.name, ANDed) — "node(s) didn't match
//     Pod's node affinity/selector";
//   - NodePorts: a hostPort already taken on the node (same protocol and port,
//     and the same hostIP or either one 0.0.0.0) — "node(s) didn't have free
//     ports for the requested pod ports";
//   - NodeResourcesFit: "Too many pods", "Insufficient cpu", "Insufficient
//     memory" (every one that applies). A pod's request is computed as
//     Kubernetes does: the sum over containers, at least the largest init
//     container (restartable "sidecar" init containers add to both), plus
//     spec.overhead; a resource with limits but no requests requests its
//     limits.
//  Scores (0–100 each, weighted as kube-scheduler's defaults): resources 1
//  (LeastAllocated by default, MostAllocated to bin-pack; both on the
//  "non-zero" requests — 100m cpu / 200Mi memory for a container that asks
//  nothing), spreading of one owner's replicas across nodes 2, preferred node
//  affinity 2, untolerated PreferNoSchedule taints 3. The best score wins;
//  ties are broken at random.
//  On large clusters only some nodes are searched, as kube-scheduler does:
//  filtering stops once max(100, n × percentageOfNodesToScore%) feasible
//  nodes are found (adaptive by default: 50% − n/125, at least 5%), starting
//  where the previous pod's search stopped.
//  No feasible node: the message is kube-scheduler's FitError, each reason
//  counted over the nodes and the "count reason" strings sorted as strings:
//  "0/5 nodes are available: 2 node(s) didn't match Pod's node
//  affinity/selector, 3 Insufficient memory."; with no node at all, "no
//  nodes available to schedule pods".
//  A pod Schedule placed is "assumed" on its node at once (the next pod sees
//  its resources taken); the informer's bound pod confirms it, Forget undoes
//  it when the bind failed.
//
// AddScheduler is the controller around it (a ControllerManager's leader-only
// controller): it feeds the cache from the manager's Pod and Node informers,
// schedules every pending pod (spec.nodeName empty, not Succeeded/Failed, not
// being deleted, spec.schedulerName empty, "bosun-scheduler" or
// "default-scheduler") and binds it through a Binder, records the Event
// Scheduled "Successfully assigned ns/pod to node". An unschedulable pod gets
// the status condition PodScheduled=False, reason Unschedulable, with the
// message above, and an Event FailedScheduling; it is tried again whenever a
// node is added or changes in a way that matters, or a bound pod goes away,
// and otherwise after a back-off (1 s doubling up to 1 min by default).
//
// Thread-safety: every Scheduler method may be called from any thread (one
// mutex; Schedule holds it for one pod's filtering and scoring).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/object.h"
#include "core/result.h"
#include "state/client.h"

namespace bosun::reconciler {

class ControllerManager;

inline constexpr const char* kSchedulerName = "bosun-scheduler";

enum class ScoringStrategy {
  kLeastAllocated,  // prefer the emptiest nodes (spreads load): the default
  kMostAllocated,   // prefer the fullest nodes that fit (bin-packing)
};

struct SchedulerConfig {
  ScoringStrategy scoring = ScoringStrategy::kLeastAllocated;
  // kube-scheduler's percentageOfNodesToScore: 0 is adaptive (see above);
  // 100 searches every node for every pod.
  int percentage_of_nodes_to_score = 0;
  // Seeds the tie-breaking random choice (0: from the clock).
  uint64_t seed = 0;
};

struct ScheduleResult {
  enum class Outcome {
    kScheduled,      // `node` was chosen and the pod is assumed there
    kUnschedulable,  // `message` says why
    kAlreadyBound,   // the cache already has this pod (uid) on `node`
  };
  Outcome outcome = Outcome::kUnschedulable;
  std::string node;
  std::string message;
  int feasible = 0;   // feasible nodes found
  int evaluated = 0;  // nodes run through the filters
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerConfig config = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // A Node added or changed. True when it is new, or changed in a way that
  // may let a pod fit that did not (allocatable, labels, taints,
  // unschedulable, readiness) — not for a mere heartbeat.
  bool UpsertNode(const Object& node);
  // True when the node was known.
  bool RemoveNode(const std::string& name);

  // A Pod added or changed. A pod bound to a node (spec.nodeName) and not
  // Succeeded/Failed is accounted on that node (confirming an assumption);
  // a terminal one is removed; an unbound one changes nothing (an assumption
  // of it stays). True when resources were freed on some node.
  bool UpsertPod(const Object& pod);
  // A Pod deleted. True when resources were freed.
  bool RemovePod(const Object& pod);

  // Runs the filters and scores for a pending pod and assumes it on the
  // node chosen.
  ScheduleResult Schedule(const Object& pod);
  // Undoes Schedule's assumption of `pod` (its bind failed). A pod the
  // informer already confirmed is left alone.
  void Forget(const Object& pod);

  // For tests and the bench.
  struct NodeUsage {
    int64_t milli_cpu = 0;  // summed requests of the pods on the node
    int64_t memory = 0;     // bytes
    int pods = 0;
  };
  std::optional<NodeUsage> Usage(const std::string& node) const;
  size_t num_nodes() const;

  struct State;  // private to scheduler*.cc

 private:
  std::unique_ptr<State> s_;
};

// Writes a scheduling decision: sets spec.nodeName of `pod` to `node` if the
// pod is still unbound, and returns the pod as stored. kConflict when it was
// bound meanwhile (or changed identity), other errors as the API gives them.
class Binder {
 public:
  virtual ~Binder() = default;
  virtual Result<Object> Bind(const Object& pod, const std::string& node) = 0;
};

// The product's binder. Binds that arrive while one is being written go
// together in one Client::Batch (an update of each pod with its
// resourceVersion as precondition); a lone bind, or every bind of a batch
// that failed, is a merge patch of spec.nodeName with the pod's
// resourceVersion and uid as preconditions that, on a conflict, reads the
// pod again and retries while it is still unbound. `client` outlives it.
std::unique_ptr<Binder> NewApiBinder(state::Client* client);

struct SchedulerOptions {
  ScoringStrategy scoring = ScoringStrategy::kLeastAllocated;
  // Controller workers: one schedules (the cache's lock) while the others
  // wait for their binds, which the API binder writes together (up to
  // workers - 1 per store transaction).
  int workers = 16;
  int percentage_of_nodes_to_score = 0;
  uint64_t seed = 0;
  // null: NewApiBinder(mgr.client()).
  std::shared_ptr<Binder> binder;
  // Back-off of an unschedulable pod between attempts, doubling per attempt.
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
  // Told the time each attempt took (filter, score, assume, bind), for the
  // bench and metrics. Called on a worker thread.
  std::function<void(std::chrono::nanoseconds)> on_attempt;
};

// Adds the scheduler controller ("scheduler") to `mgr` and its handlers to
// the manager's Pod and Node informers; call before mgr.Start. kInvalid when
// there is neither a binder nor a client.
Status AddScheduler(ControllerManager& mgr, const SchedulerOptions& options = {});

}  // namespace bosun::reconciler
