// node/pod_worker.h — one pod's worker on the node (DESIGN.md §5): level-based,
// each wake-up compares the pod's spec with what runs and acts, as the
// kubelet's pod workers do.
//
// Sync() is one pass: volumes (set up, configMap/secret refreshed), the
// sandbox, the network (pod IP, hostPorts), then the init containers in order
// (each must exit 0), then every container: images ensured with the pod's
// imagePullPolicy (ErrImagePull, then ImagePullBackOff), containers started,
// exits seen, restarts per restartPolicy (Always / OnFailure / Never) with
// CrashLoopBackOff — 10 s doubling to 5 min, reset after 10 min of clean
// running — and probes (startup gates liveness and readiness; a liveness or
// startup failure kills the container, which then restarts per policy;
// readiness sets the container's ready and the pod's Ready/ContainersReady).
// It then writes the pod's status (phase, conditions, IPs, container
// statuses) when it changed, and returns when it wants to run again.
// Every decision is logged with the pod's key.
//
// When the pod is deleted (or carries a deletionTimestamp) Sync stops the
// containers (SIGTERM, terminationGracePeriodSeconds — default 30 — then
// SIGKILL) and removes everything: containers, sandbox, network, volumes.
//
// Restart safety: a worker made for a pod that already runs (the daemon
// passes what Runtime::ListContainers found) adopts those containers: the
// highest attempt of each name is the current one, its attempt number is the
// restart count, and nothing is restarted because the daemon was. A pod
// whose status already says Succeeded or Failed, and of which no container
// is found (the daemon stopped and removed them, or the machine rebooted), is
// not run again, as the kubelet never restarts a terminal pod: a Job's
// migration runs once, not once per restart of the node.
//
// Threading: Start() runs Sync as a task of the daemon's WorkerExecutor
// (node/worker_executor.h; or, without one, on the worker's own thread),
// woken by Update, Delete, Wake or its own timer; Sync may also be called
// directly (tests with a FakeClock do). The time comes from the Clock given.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/object.h"
#include "core/result.h"
#include "node/image_store.h"
#include "node/network.h"
#include "node/node_server.h"
#include "node/probes.h"
#include "node/runtime.h"
#include "node/sandbox_pool.h"
#include "node/volumes.h"
#include "node/worker_executor.h"
#include "state/events.h"

namespace bosun::state {
class Client;
}

namespace bosun::node {

// The volume side of a pod, as the worker uses it (VolumeManager in the
// product; a fake in tests).
class PodVolumes {
 public:
  virtual ~PodVolumes() = default;
  virtual Result<std::map<std::string, std::string>> Setup(const Object& pod, const ObjectFetcher& fetch) = 0;
  virtual Result<bool> Refresh(const Object& pod, const ObjectFetcher& fetch) = 0;
  virtual Result<std::vector<Mount>> MountsFor(const Object& pod, const std::string& container,
                                               const std::map<std::string, std::string>& paths) = 0;
  virtual Status Teardown(const std::string& pod_uid) = 0;
};

using ProbeFn = std::function<ProbeOutcome(const Json& probe, const Json& container, const std::string& pod_ip,
                                           const ExecFn& exec)>;

// What every worker shares; owned by the daemon, outlives the workers.
struct WorkerEnv {
  Runtime* runtime = nullptr;
  Network* network = nullptr;
  ImageStore* images = nullptr;
  PodVolumes* volumes = nullptr;
  SandboxPool* pool = nullptr;      // ready sandboxes to take (optional)
  // Runs the workers' passes on a few threads; without one each worker has
  // its own thread (tests).
  WorkerExecutor* executor = nullptr;
  state::Client* client = nullptr;  // status writes; ConfigMap/Secret reads
  // Events about the pod, as a kubelet records them (FailedMount, Failed,
  // BackOff, Started), shown by `bosun describe pod`; null: none.
  state::EventRecorder* events = nullptr;
  Clock* clock = nullptr;
  ProbeFn probe;                    // RunProbe in the product
  std::string node_name;
  std::string host_ip;
  // How often configMap/secret volumes are re-projected.
  std::chrono::milliseconds volume_resync{std::chrono::seconds(60)};
  // Back-off of restarts and image pulls.
  std::chrono::milliseconds backoff_initial{std::chrono::seconds(10)};
  std::chrono::milliseconds backoff_max{std::chrono::minutes(5)};
  std::chrono::milliseconds backoff_reset{std::chrono::minutes(10)};
  // How often a running container is looked at when nothing else is due.
  std::chrono::milliseconds poll{std::chrono::seconds(1)};
};

class PodWorker {
 public:
  // `adopted`: this pod's containers found in the runtime at start.
  PodWorker(const WorkerEnv& env, Object pod, std::vector<ContainerStatus> adopted = {});
  ~PodWorker();  // stops the thread (containers keep running)
  PodWorker(const PodWorker&) = delete;
  PodWorker& operator=(const PodWorker&) = delete;

  // A new version of the pod from the watch.
  void Update(const Object& pod);
  // The pod is gone from the API: the next Sync tears everything down.
  void Delete(const Object& last_state);
  // Something changed (a container exit the daemon noticed, a timer).
  void Wake();

  // One pass; returns when to pass again. After a teardown, done() is true.
  std::chrono::milliseconds Sync();
  bool done() const { return done_; }

  void Start();  // runs Sync (executor task or own thread) until done or Stop
  void Stop();   // ends the task or thread without touching the containers

  // The current and previous run of a container (for the node server).
  Result<ContainerRef> Lookup(const std::string& container) const;
  // The status last written (or computed) for the pod.
  Json LastStatus() const;
  std::string key() const;

 private:
  struct Probing {
    MonoTime next{};
    int successes = 0;
    int failures = 0;
  };
  struct CState {
    bool init = false;
    std::string name;
    std::optional<ContainerStatus> current;   // the newest run
    std::optional<ContainerStatus> previous;  // the run before it (lastState)
    int restart_count = 0;
    // The attempt of a first run of this worker's: the pod's reported
    // restartCount + 1 when it ran on this node before (its containers were
    // removed with the node's stop, or by a reboot), as a kubelet counts it.
    int first_attempt = 0;
    // Back-off: the next start is not before `not_before`; `delay` is the
    // next back-off; `exit_seen` is when the current run's exit was noticed.
    MonoTime not_before{};
    std::chrono::milliseconds delay{0};
    bool exit_handled = false;
    std::string image_id;   // the image digest the current run uses
    std::string image_ref;  // the spec's image the current run was started from
    std::string kill_reason;  // why the node killed the current run, if it did
    std::string waiting_reason;
    std::string waiting_message;
    // Image pull back-off.
    MonoTime pull_not_before{};
    std::chrono::milliseconds pull_delay{0};
    // Probes.
    bool started = false;  // the startup probe passed (or there is none)
    bool ready = false;
    // The last readiness probe failure while not ready ("Readiness probe
    // failed: HTTP probe failed with statuscode: 404"): in the pod's Ready
    // condition, so a rollout that waits says why.
    std::string readiness_failure;
    MonoTime run_began{};  // when the current run was seen running
    Probing startup, liveness, readiness;
  };

  std::chrono::milliseconds SyncLocked();
  std::chrono::milliseconds Terminate();
  Status EnsurePodSetup(std::string* why);
  // Starts (or restarts) `c` if the policy and back-off allow; returns the
  // wait until it may.
  std::optional<std::chrono::milliseconds> StartContainer(CState& c, const Json& spec);
  void ObserveExit(CState& c, const Json& spec);
  // An Event about the pod (env_.events); repeats are counted, not added.
  void PodEvent(bool warning, const std::string& reason, const std::string& message);
  std::optional<std::chrono::milliseconds> RunProbes(CState& c, const Json& spec);
  void KillForRestart(CState& c, const std::string& why);
  bool ShouldRestart(const CState& c) const;
  void Refresh(CState& c);
  Json BuildStatus();
  Json ContainerStatusJson(const CState& c, const Json& spec) const;
  void WriteStatus(const Json& status);
  Result<Object> Fetch(const std::string& kind, const std::string& ns, const std::string& name);
  const Json* SpecOf(const CState& c) const;
  std::chrono::milliseconds Until(MonoTime t) const;
  std::chrono::milliseconds Grace() const;
  void Loop();

  WorkerEnv env_;
  mutable std::mutex mu_;        // guards the pod, the flags and the states
  std::mutex sync_mu_;           // one Sync at a time
  std::condition_variable cv_;
  Object pod_;
  bool deleted_ = false;
  bool woken_ = false;
  std::atomic<bool> done_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  WorkerExecutor::TaskPtr task_;  // with an executor

  // Sync's own copy of the pod (taken under mu_ at the start of a pass,
  // dropped at its end).
  Object snapshot_;
  bool deleting_ = false;
  // The pod had ended (phase Succeeded or Failed) before this worker, which
  // holds none of its containers: nothing of it runs again.
  bool ended_before_ = false;
  bool deleted_seen_ = false;
  bool terminating_logged_ = false;
  // What Lookup answers from (guarded by mu_), refreshed after each pass.
  std::map<std::string, ContainerRef> refs_;
  std::string default_container_;  // the first container (Lookup of "")

  // Set up by Sync.
  std::optional<Sandbox> sandbox_;
  std::string pod_ip_;
  std::map<std::string, std::string> volume_paths_;
  bool volumes_ready_ = false;
  MonoTime next_volume_refresh_{};
  std::string setup_error_;
  std::string setup_reason_;
  bool init_done_ = false;
  bool init_failed_ = false;
  std::vector<CState> states_;  // init containers first, then containers
  std::optional<std::string> start_time_;
  Json last_status_;
  Json written_status_;
};

}  // namespace bosun::node
