// The pod worker's lifecycle: set-up, starts, exits, back-off, probes,
// termination. Status building is in pod_worker_status.cc.
#include "node/pod_worker.h"

#include <algorithm>

#include "core/kinds.h"
#include "core/log.h"
#include "node/pod_spec.h"
#include "state/client.h"

namespace bosun::node {
namespace {

using namespace std::chrono_literals;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::string Str(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string FormatMs(milliseconds d) {
  auto s = duration_cast<std::chrono::seconds>(d).count();
  if (s >= 60 && s % 60 == 0) return std::to_string(s / 60) + "m0s";
  if (s >= 60) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  return std::to_string(s) + "s";
}

}  // namespace

PodWorker::PodWorker(const WorkerEnv& env, Object pod, std::vector<ContainerStatus> adopted)
    : env_(env), pod_(std::move(pod)) {
  for (const char* list : {"initContainers", "containers"}) {
    const Json& cs = Object::Field(pod_.spec(), list);
    if (!cs.is_array()) continue;
    for (const auto& c : cs) {
      CState s;
      s.init = std::string(list) == "initContainers";
      s.name = Str(c, "name");
      if (!s.init && default_container_.empty()) default_container_ = s.name;
      states_.push_back(std::move(s));
    }
  }
  written_status_ = pod_.status();
  const Json& st = pod_.status();
  if (st.is_object() && st.contains("startTime") && st["startTime"].is_string()) {
    start_time_ = st["startTime"].get<std::string>();
  }
  // The last reported ready/started of each container, so adopting a running
  // container does not flip the pod's Ready.
  std::map<std::string, std::pair<bool, bool>> reported;
  std::map<std::string, int> ran_before;  // restartCount + 1 of containers that had run
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const Json& l = Object::Field(st, list);
    if (!l.is_array()) continue;
    for (const auto& cs : l) {
      const Json& r = Object::Field(cs, "ready");
      const Json& s = Object::Field(cs, "started");
      reported[Str(cs, "name")] = {r.is_boolean() && r.get<bool>(), s.is_boolean() && s.get<bool>()};
      const Json& count = Object::Field(cs, "restartCount");
      if (!Str(cs, "containerID").empty() && count.is_number_integer() && count.get<int64_t>() >= 0 &&
          count.get<int64_t>() < 1000000) {
        ran_before[Str(cs, "name")] = static_cast<int>(count.get<int64_t>()) + 1;
      }
    }
  }
  std::sort(adopted.begin(), adopted.end(),
            [](const ContainerStatus& a, const ContainerStatus& b) { return a.attempt < b.attempt; });
  MonoTime now = env_.clock->Monotonic();
  for (auto& c : states_) {
    for (const auto& a : adopted) {
      if (a.name != c.name) continue;
      if (c.current) c.previous = c.current;
      c.current = a;
    }
    if (!c.current) {
      if (auto it = ran_before.find(c.name); it != ran_before.end()) c.first_attempt = it->second;
      continue;
    }
    c.restart_count = c.current->attempt;
    if (c.restart_count > 0) {
      auto d = env_.backoff_initial * (1LL << std::min(c.restart_count - 1, 20));
      c.delay = std::min<milliseconds>(duration_cast<milliseconds>(d), env_.backoff_max);
    }
    c.run_began = now;
    auto it = reported.find(c.name);
    if (c.current->state == ContainerState::kRunning) {
      c.started = it == reported.end() ? true : it->second.second;
      c.ready = it != reported.end() && it->second.first;
    }
    log::Info("node", "adopted container",
              {{"pod", pod_.Key()}, {"container", c.name}, {"id", c.current->id},
               {"state", ContainerStateName(c.current->state)}, {"restarts", std::to_string(c.restart_count)}});
  }
}

PodWorker::~PodWorker() { Stop(); }

std::string PodWorker::key() const {
  std::lock_guard<std::mutex> lk(mu_);
  return pod_.Key();
}

void PodWorker::Update(const Object& pod) {
  WorkerExecutor::TaskPtr task;
  {
    std::lock_guard<std::mutex> lk(mu_);
    pod_ = pod;
    woken_ = true;
    cv_.notify_all();
    task = task_;
  }
  if (task) env_.executor->Wake(task);
}

void PodWorker::Delete(const Object& last_state) {
  WorkerExecutor::TaskPtr task;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!last_state.json().empty()) pod_ = last_state;
    deleted_ = true;
    woken_ = true;
    cv_.notify_all();
    task = task_;
  }
  if (task) env_.executor->Wake(task);
}

void PodWorker::Wake() {
  WorkerExecutor::TaskPtr task;
  {
    std::lock_guard<std::mutex> lk(mu_);
    woken_ = true;
    cv_.notify_all();
    task = task_;
  }
  if (task) env_.executor->Wake(task);
}

void PodWorker::Start() {
  if (thread_.joinable()) return;
  if (env_.executor != nullptr) {
    std::lock_guard<std::mutex> lk(mu_);
    if (task_ || stop_) return;
    task_ = env_.executor->Add([this]() -> milliseconds {
      if (stop_ || done_) return milliseconds::max();
      milliseconds wait = Sync();
      return done_ ? milliseconds::max() : wait;
    });
    return;
  }
  thread_ = std::thread([this] { Loop(); });
}

void PodWorker::Stop() {
  WorkerExecutor::TaskPtr task;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    cv_.notify_all();
    task.swap(task_);
  }
  if (task) env_.executor->Remove(task);
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void PodWorker::Loop() {
  while (!stop_ && !done_) {
    milliseconds wait = Sync();
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait_for(lk, std::max(wait, 1ms), [&] { return woken_ || stop_.load(); });
    woken_ = false;
  }
}

Result<ContainerRef> PodWorker::Lookup(const std::string& container) const {
  std::lock_guard<std::mutex> lk(mu_);
  const std::string& name = container.empty() ? default_container_ : container;
  auto it = refs_.find(name);
  if (it != refs_.end()) return it->second;
  return Error(Code::kNotFound, "container \"" + name + "\" in pod " + pod_.Key() + " has not started");
}

Json PodWorker::LastStatus() const {
  std::lock_guard<std::mutex> lk(mu_);
  return last_status_;
}

milliseconds PodWorker::Until(MonoTime t) const {
  auto now = env_.clock->Monotonic();
  if (t <= now) return 0ms;
  return duration_cast<milliseconds>(t - now) + 1ms;
}

// Grace and SpecOf run inside a pass and read the pass's snapshot: pod_ is
// replaced under mu_ by Update at any moment (each status write comes back
// as a watch event), and a reference into it could dangle mid-iteration.
milliseconds PodWorker::Grace() const {
  const Json& g = Object::Field(snapshot_.spec(), "terminationGracePeriodSeconds");
  if (g.is_number_integer() && g.get<int64_t>() >= 0) return std::chrono::seconds(g.get<int64_t>());
  return 30s;
}

const Json* PodWorker::SpecOf(const CState& c) const {
  const Json& cs = Object::Field(snapshot_.spec(), c.init ? "initContainers" : "containers");
  if (!cs.is_array()) return nullptr;
  for (const auto& s : cs) {
    if (Str(s, "name") == c.name) return &s;
  }
  return nullptr;
}

Result<Object> PodWorker::Fetch(const std::string& kind, const std::string& ns, const std::string& name) {
  if (env_.client == nullptr) return Error(Code::kUnavailable, "no API client");
  const KindInfo* k = KindRegistry::Builtin().FindKind(kind);
  if (k == nullptr) return Error(Code::kInvalid, "unknown kind " + kind);
  return env_.client->Get(*k, ns, name);
}

milliseconds PodWorker::Sync() {
  std::lock_guard<std::mutex> sync(sync_mu_);
  if (done_) return 0ms;
  {
    std::lock_guard<std::mutex> lk(mu_);
    snapshot_ = pod_;
    deleted_seen_ = deleted_;
    deleting_ = deleted_ || snapshot_.deletion_timestamp().has_value();
  }
  if (!deleting_ && !ended_before_) {
    const Json& phase = Object::Field(snapshot_.status(), "phase");
    const bool ended = phase == "Succeeded" || phase == "Failed";
    const bool holds_none =
        std::none_of(states_.begin(), states_.end(), [](const auto& c) { return c.current.has_value(); });
    if (ended && holds_none) {
      ended_before_ = true;
      log::Info("node", "pod ended before; not run again",
                {{"pod", snapshot_.Key()}, {"phase", phase.get<std::string>()}});
    }
  }
  milliseconds wait = deleting_ ? Terminate() : ended_before_ ? env_.poll : SyncLocked();
  // The snapshot lives for the pass only: between passes pod_ is the one
  // copy of the pod (a node of 100 pods would otherwise hold 200).
  snapshot_ = Object();
  std::map<std::string, ContainerRef> refs;
  for (const auto& c : states_) {
    if (!c.current) continue;
    ContainerRef r;
    r.name = c.name;
    r.id = c.current->id;
    r.running = c.current->state == ContainerState::kRunning;
    r.log_path = c.current->log_path;
    if (c.previous) r.previous_log_path = c.previous->log_path;
    refs[c.name] = r;
  }
  std::lock_guard<std::mutex> lk(mu_);
  refs_ = std::move(refs);
  return wait;
}

Status PodWorker::EnsurePodSetup(std::string* why) {
  const Object& pod = snapshot_;
  ObjectFetcher fetch = [this](const std::string& k, const std::string& ns, const std::string& n) {
    return Fetch(k, ns, n);
  };
  MonoTime now = env_.clock->Monotonic();
  if (!volumes_ready_) {
    auto v = env_.volumes->Setup(pod, fetch);
    if (!v) {
      *why = "FailedMount";
      return v.error().Wrap("volumes");
    }
    volume_paths_ = *v;
    volumes_ready_ = true;
    next_volume_refresh_ = now + env_.volume_resync;
    log::Info("node", "volumes ready", {{"pod", pod.Key()}, {"count", std::to_string(volume_paths_.size())}});
  } else if (now >= next_volume_refresh_) {
    next_volume_refresh_ = now + env_.volume_resync;
    auto changed = env_.volumes->Refresh(pod, fetch);
    if (!changed) {
      log::Warn("node", "volume refresh failed", {{"pod", pod.Key()}, {"error", changed.error().message()}});
    } else if (*changed) {
      log::Info("node", "configMap/secret volumes updated", {{"pod", pod.Key()}});
    }
  }
  if (!sandbox_) {
    SandboxConfig sc;
    sc.pod_uid = pod.uid();
    sc.ns = pod.namespace_().empty() ? "default" : pod.namespace_();
    sc.name = pod.name();
    std::string hostname = Str(pod.spec(), "hostname");
    sc.hostname = hostname.empty() ? pod.name() : hostname;
    for (const auto& c : states_) {
      if (c.init) continue;  // init containers run before, one at a time
      const Json* spec = SpecOf(c);
      if (spec == nullptr) continue;
      auto r = ResourcesOf(*spec);
      if (!r) continue;
      sc.resources.memory_limit_bytes = (r->memory_limit_bytes == 0 || sc.resources.memory_limit_bytes < 0)
                                            ? -1
                                            : sc.resources.memory_limit_bytes + r->memory_limit_bytes;
    }
    // A pod memory limit only when every container has one (Kubernetes'
    // rule); CPU is left to the containers' own cgroups.
    if (sc.resources.memory_limit_bytes < 0) sc.resources.memory_limit_bytes = 0;
    // A warm sandbox, its network attached already, when the pool has one
    // (not for a pod that ran here before a restart, nor one with hostPorts).
    bool fresh = true;
    for (const auto& c : states_) fresh = fresh && !c.current;
    std::optional<SandboxPool::Claimed> warm;
    if (env_.pool != nullptr && fresh && HostPortsOf(pod).empty()) warm = env_.pool->Take(sc);
    if (warm) {
      sandbox_ = warm->sandbox;
      log::Info("node", "sandbox taken from the pool",
                {{"pod", pod.Key()}, {"netns", sandbox_->netns_path}, {"netId", sandbox_->net_id}});
    } else {
      auto sb = env_.runtime->RunPodSandbox(sc);
      if (!sb) {
        *why = "FailedCreatePodSandBox";
        return sb.error().Wrap("sandbox");
      }
      sandbox_ = *sb;
      log::Info("node", "sandbox ready", {{"pod", pod.Key()}, {"netns", sandbox_->netns_path}});
    }
  }
  if (pod_ip_.empty()) {
    const std::string& net_id = sandbox_->net_id.empty() ? pod.uid() : sandbox_->net_id;
    auto ip = env_.network->Setup(net_id, sandbox_->netns_path, HostPortsOf(pod));
    if (!ip) {
      *why = "FailedCreatePodSandBox";
      return ip.error().Wrap("network");
    }
    pod_ip_ = *ip;
    log::Info("node", "network ready", {{"pod", pod.Key()}, {"ip", pod_ip_}});
  }
  return Ok();
}

void PodWorker::Refresh(CState& c) {
  if (!c.current || c.current->state == ContainerState::kExited) return;
  auto st = env_.runtime->Inspect(c.current->id);
  if (st && st->state == ContainerState::kUnknown) {
    // Its monitor (the shim) died and the container runs on unwatched: no
    // logs are read, no exit would be seen, exec cannot reach it. Stop it,
    // so that it is restarted (per restartPolicy) under a new monitor, as a
    // kubelet does when the runtime's shim of a container is gone.
    log::Warn("node", "a container's monitor is gone; stopping the container to restart it",
              {{"pod", snapshot_.Key()}, {"container", c.name}, {"id", c.current->id}});
    const bool restarts = Str(snapshot_.spec(), "restartPolicy") != "Never";
    PodEvent(true, "MonitorLost",
             "the monitor of container " + c.name + " exited while the container ran; it is stopped" +
                 (restarts ? " and restarted" : " (restartPolicy Never: not restarted)"));
    if (Status stopped = env_.runtime->StopContainer(c.current->id, std::chrono::milliseconds(0)); !stopped) {
      log::Warn("node", "cannot stop a container whose monitor is gone",
                {{"pod", snapshot_.Key()}, {"container", c.name}, {"error", stopped.error().message()}});
    }
    st = env_.runtime->Inspect(c.current->id);
  }
  if (st) {
    c.current = *st;
  } else if (st.error().code() == Code::kNotFound) {
    // Gone from under us: report it as an exit we cannot explain.
    c.current->state = ContainerState::kExited;
    c.current->exit_code = 137;
    c.current->reason = "ContainerStatusUnknown";
    c.current->message = "the container could not be located when the pod was synced";
    c.current->finished_at = env_.clock->Now();
  }
}

bool PodWorker::ShouldRestart(const CState& c) const {
  if (!c.current || c.current->state != ContainerState::kExited) return false;
  std::string policy = Str(snapshot_.spec(), "restartPolicy");
  if (c.init) return policy != "Never" && c.current->exit_code != 0;
  if (policy == "Never") return false;
  if (policy == "OnFailure") return c.current->exit_code != 0;
  return true;
}

void PodWorker::PodEvent(bool warning, const std::string& reason, const std::string& message) {
  if (env_.events != nullptr && !snapshot_.name().empty()) {
    env_.events->Record(snapshot_, warning ? "Warning" : "Normal", reason, message);
  }
}

void PodWorker::ObserveExit(CState& c, const Json& /*spec*/) {
  if (c.exit_handled) return;
  c.exit_handled = true;
  c.ready = false;
  const auto& cur = *c.current;
  auto ran = cur.finished_at - cur.started_at;
  bool restart = ShouldRestart(c);
  if (cur.started_at != WallTime{} && ran >= env_.backoff_reset) {
    c.delay = env_.backoff_initial;  // ran cleanly long enough: back-off starts over
  } else if (c.delay == 0ms) {
    c.delay = env_.backoff_initial;
  } else {
    c.delay = std::min(c.delay * 2, env_.backoff_max);
  }
  c.not_before = env_.clock->Monotonic() + c.delay;
  if (restart && cur.exit_code != 0) {
    PodEvent(true, "BackOff",
             "Back-off restarting failed container " + c.name + " (exit code " + std::to_string(cur.exit_code) + ")");
  }
  log::Info("node", "container exited",
            {{"pod", snapshot_.Key()}, {"container", c.name}, {"exitCode", std::to_string(cur.exit_code)},
             {"reason", cur.reason}, {"restart", restart ? "in " + FormatMs(c.delay) : "no"}});
}

std::optional<milliseconds> PodWorker::StartContainer(CState& c, const Json& spec) {
  const Object& pod = snapshot_;
  MonoTime now = env_.clock->Monotonic();
  if (c.current && now < c.not_before) {
    c.waiting_reason = "CrashLoopBackOff";
    c.waiting_message = "back-off " + FormatMs(c.delay) + " restarting failed container=" + c.name +
                        " pod=" + pod.name() + "_" + pod.namespace_() + "(" + pod.uid() + ")";
    return Until(c.not_before);
  }
  std::string ref = Str(spec, "image");
  if (now < c.pull_not_before) {
    c.waiting_reason = "ImagePullBackOff";
    c.waiting_message = "Back-off pulling image \"" + ref + "\"";
    return Until(c.pull_not_before);
  }
  std::string policy_s = Str(spec, "imagePullPolicy");
  PullPolicy policy = DefaultPullPolicy(ref);
  if (!policy_s.empty()) {
    auto p = ParsePullPolicy(policy_s);
    if (p) policy = *p;
  }
  std::string key = pod.Key();
  int last_logged = -1;
  auto progress = [&](const PullProgress& p) {
    if (p.layers_done == last_logged) return;
    last_logged = p.layers_done;
    log::Info("node", "pulling image",
              {{"pod", key}, {"image", ref}, {"layers", std::to_string(p.layers_done) + "/" + std::to_string(p.layers_total)},
               {"bytes", std::to_string(p.done_bytes)}});
  };
  auto image = env_.images->Ensure(ref, policy, progress);
  if (!image) {
    c.pull_delay = c.pull_delay == 0ms ? env_.backoff_initial : std::min(c.pull_delay * 2, env_.backoff_max);
    c.pull_not_before = env_.clock->Monotonic() + c.pull_delay;
    c.waiting_reason = "ErrImagePull";
    c.waiting_message = image.error().message();
    PodEvent(true, "Failed", "Failed to pull image \"" + ref + "\": " + image.error().message());
    log::Warn("node", "image pull failed",
              {{"pod", key}, {"container", c.name}, {"image", ref}, {"error", image.error().message()},
               {"retry", FormatMs(c.pull_delay)}});
    return Until(c.pull_not_before);
  }
  c.pull_delay = 0ms;
  auto mounts = env_.volumes->MountsFor(pod, c.name, volume_paths_);
  Result<ContainerConfig> cfg =
      mounts
          ? BuildContainerConfig(
                pod, spec, *image, PodFieldValues(pod, pod_ip_, env_.host_ip),
                [this](const std::string& k, const std::string& ns, const std::string& n) { return Fetch(k, ns, n); },
                *mounts, c.current ? c.current->attempt + 1 : c.first_attempt)
          : Result<ContainerConfig>(mounts.error());
  if (!cfg) {
    c.waiting_reason = "CreateContainerConfigError";
    c.waiting_message = cfg.error().message();
    PodEvent(true, "Failed", "Error: " + cfg.error().message());
    log::Warn("node", "cannot configure container",
              {{"pod", key}, {"container", c.name}, {"error", cfg.error().message()}});
    return env_.backoff_initial;
  }
  // Keep one dead run (for `logs --previous`); older ones go.
  if (c.previous && c.current) {
    if (auto st = env_.runtime->RemoveContainer(c.previous->id); !st) {
      log::Warn("node", "cannot remove old container", {{"pod", key}, {"id", c.previous->id}, {"error", st.error().message()}});
    }
  }
  auto started = env_.runtime->StartContainer(*sandbox_, *cfg);
  std::optional<ContainerStatus> run;
  if (started) {
    run = *started;
  } else {
    log::Warn("node", "container failed to start",
              {{"pod", key}, {"container", c.name}, {"error", started.error().message()}});
    // The attempt counts if the runtime recorded it.
    auto id = pod.uid() + "_" + c.name + "_" + std::to_string(cfg->attempt);
    auto st = env_.runtime->Inspect(id);
    if (!st) {
      c.waiting_reason = "RunContainerError";
      c.waiting_message = started.error().message();
      return env_.backoff_initial;
    }
    run = *st;
    if (run->state == ContainerState::kExited && run->message.empty()) run->message = started.error().message();
  }
  if (c.current) c.previous = c.current;
  c.current = *run;
  c.restart_count = run->attempt;
  c.image_id = image->digest;
  c.exit_handled = false;
  c.waiting_reason.clear();
  c.waiting_message.clear();
  c.run_began = env_.clock->Monotonic();
  PodEvent(false, "Started", "Started container " + c.name);
  c.started = Object::Field(spec, "startupProbe").is_null();
  c.ready = false;
  auto schedule = [&](Probing& p, const char* field) {
    p = Probing{};
    const Json& probe = Object::Field(spec, field);
    if (!probe.is_null()) p.next = c.run_began + ProbeTimingOf(probe).initial_delay;
  };
  schedule(c.startup, "startupProbe");
  schedule(c.liveness, "livenessProbe");
  schedule(c.readiness, "readinessProbe");
  log::Info("node", "started container",
            {{"pod", key}, {"container", c.name}, {"id", run->id}, {"attempt", std::to_string(run->attempt)},
             {"image", ref}});
  return std::nullopt;
}

void PodWorker::KillForRestart(CState& c, const std::string& why) {
  log::Info("node", "killing container", {{"pod", snapshot_.Key()}, {"container", c.name}, {"why", why}});
  if (auto st = env_.runtime->StopContainer(c.current->id, Grace()); !st) {
    log::Warn("node", "stop failed", {{"pod", snapshot_.Key()}, {"container", c.name}, {"error", st.error().message()}});
  }
  c.kill_reason = why;
  Refresh(c);
}

std::optional<milliseconds> PodWorker::RunProbes(CState& c, const Json& spec) {
  MonoTime now = env_.clock->Monotonic();
  milliseconds wait = env_.poll;
  std::string id = c.current->id;
  Runtime* rt = env_.runtime;
  ExecFn exec = [rt, id](const std::vector<std::string>& argv, milliseconds timeout) {
    return rt->Exec(id, argv, timeout);
  };
  // Runs `probe` if due; returns its outcome then.
  auto due = [&](Probing& p, const Json& probe) -> std::optional<ProbeOutcome> {
    ProbeTiming t = ProbeTimingOf(probe);
    if (now < p.next) {
      wait = std::min(wait, Until(p.next));
      return std::nullopt;
    }
    ProbeOutcome o = env_.probe(probe, spec, pod_ip_, exec);
    p.next = now + t.period;
    wait = std::min(wait, Until(p.next));
    if (o.success) {
      p.successes++;
      p.failures = 0;
    } else {
      p.failures++;
      p.successes = 0;
    }
    return o;
  };
  const Json& startup = Object::Field(spec, "startupProbe");
  if (!c.started) {
    auto o = due(c.startup, startup);
    if (!o) return wait;
    if (o->success) {
      c.started = true;
      log::Info("node", "startup probe succeeded", {{"pod", snapshot_.Key()}, {"container", c.name}});
    } else if (c.startup.failures >= ProbeTimingOf(startup).failure_threshold) {
      PodEvent(true, "Unhealthy", "Startup probe failed: " + o->message);
      KillForRestart(c, "Startup probe failed: " + o->message);
      return 0ms;
    } else {
      return wait;
    }
  }
  const Json& liveness = Object::Field(spec, "livenessProbe");
  if (!liveness.is_null()) {
    auto o = due(c.liveness, liveness);
    if (o && !o->success) {
      log::Info("node", "liveness probe failed",
                {{"pod", snapshot_.Key()}, {"container", c.name}, {"failures", std::to_string(c.liveness.failures)},
                 {"message", o->message}});
      // As the kubelet: each failure is an Unhealthy Event (repeats are
      // counted on one).
      PodEvent(true, "Unhealthy", "Liveness probe failed: " + o->message);
      if (c.liveness.failures >= ProbeTimingOf(liveness).failure_threshold) {
        KillForRestart(c, "Liveness probe failed: " + o->message);
        return 0ms;
      }
    }
  }
  const Json& readiness = Object::Field(spec, "readinessProbe");
  if (readiness.is_null()) {
    c.ready = true;
  } else if (auto o = due(c.readiness, readiness)) {
    ProbeTiming t = ProbeTimingOf(readiness);
    bool was = c.ready;
    if (o->success && c.readiness.successes >= t.success_threshold) c.ready = true;
    if (!o->success && c.readiness.failures >= t.failure_threshold) c.ready = false;
    if (!o->success) {
      // The first failure of a run of them, and the one that makes the
      // container unready: not one API write per period while it stays so.
      if (c.readiness.failures == 1 || (was && !c.ready)) {
        PodEvent(true, "Unhealthy", "Readiness probe failed: " + o->message);
      }
      if (!c.ready) c.readiness_failure = "Readiness probe failed: " + o->summary;
    }
    if (c.ready) c.readiness_failure.clear();
    if (was != c.ready) {
      log::Info("node", c.ready ? "container ready" : "container not ready",
                {{"pod", snapshot_.Key()}, {"container", c.name}, {"message", o->message}});
    }
  }
  return wait;
}

milliseconds PodWorker::SyncLocked() {
  std::string why;
  if (auto st = EnsurePodSetup(&why); !st) {
    if (setup_error_ != st.error().message()) {
      log::Warn("node", "pod set-up failed", {{"pod", snapshot_.Key()}, {"reason", why}, {"error", st.error().message()}});
      PodEvent(true, why, st.error().message());
    }
    setup_error_ = st.error().message();
    setup_reason_ = why;
    WriteStatus(BuildStatus());
    return 5s;
  }
  setup_error_.clear();
  setup_reason_.clear();
  if (!start_time_) start_time_ = FormatRfc3339(env_.clock->Now());
  milliseconds wait = env_.poll;
  auto consider = [&](std::optional<milliseconds> w) {
    if (w) wait = std::min(wait, *w);
  };
  for (auto& c : states_) Refresh(c);
  // Init containers, in order: each must exit 0 before the next starts.
  init_done_ = true;
  init_failed_ = false;
  for (auto& c : states_) {
    if (!c.init) continue;
    const Json* spec = SpecOf(c);
    if (spec == nullptr) continue;
    if (c.current && c.current->state == ContainerState::kExited && c.current->exit_code == 0) continue;
    init_done_ = false;
    if (!c.current) {
      consider(StartContainer(c, *spec));
    } else if (c.current->state == ContainerState::kExited) {
      ObserveExit(c, *spec);
      if (ShouldRestart(c)) {
        consider(StartContainer(c, *spec));
      } else {
        init_failed_ = true;
      }
    }
    break;
  }
  if (init_done_) {
    for (auto& c : states_) {
      if (c.init) continue;
      const Json* spec = SpecOf(c);
      if (spec == nullptr) continue;
      if (c.current && c.current->state == ContainerState::kRunning && !c.image_ref.empty() &&
          c.image_ref != Str(*spec, "image")) {
        KillForRestart(c, "image changed to " + Str(*spec, "image"));
      }
      bool started = false;
      if (!c.current) {
        auto w = StartContainer(c, *spec);
        consider(w);
        started = !w.has_value();
      } else if (c.current->state == ContainerState::kExited) {
        ObserveExit(c, *spec);
        if (ShouldRestart(c)) {
          auto w = StartContainer(c, *spec);
          consider(w);
          started = !w.has_value();
        }
      }
      if (started && c.current) c.image_ref = Str(*spec, "image");
      // A running container (also one started just now: its first probes
      // run at once when they have no initial delay).
      if (c.current && c.current->state == ContainerState::kRunning) {
        consider(RunProbes(c, *spec));
        if (c.current->state == ContainerState::kExited) {
          ObserveExit(c, *spec);
          if (ShouldRestart(c)) consider(StartContainer(c, *spec));
        }
      }
    }
  }
  WriteStatus(BuildStatus());
  return wait;
}

}  // namespace bosun::node
