// The pod worker's status: phase, conditions and container statuses as
// Kubernetes reports them, written through the /status subresource only when
// something changed.
#include <algorithm>

#include "core/log.h"
#include "node/pod_worker.h"
#include "state/client.h"

namespace bosun::node {
namespace {

std::string Str(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string Time(WallTime t) { return t == WallTime{} ? std::string() : FormatRfc3339(t); }

Json Terminated(const ContainerStatus& s) {
  Json t = {{"exitCode", s.exit_code}, {"containerID", "bosun://" + s.id}};
  std::string reason = s.reason;
  if (reason.empty()) reason = s.exit_code == 0 ? "Completed" : "Error";
  t["reason"] = reason;
  if (!s.message.empty()) t["message"] = s.message;
  if (s.started_at != WallTime{}) t["startedAt"] = Time(s.started_at);
  if (s.finished_at != WallTime{}) t["finishedAt"] = Time(s.finished_at);
  return t;
}

// The condition, with lastTransitionTime carried over from `prev` when its
// status did not change.
Json Condition(const Json& prev, const std::string& type, bool ok, const std::string& reason,
               const std::string& message, const std::string& now) {
  Json c = {{"type", type}, {"status", ok ? "True" : "False"}, {"lastProbeTime", nullptr}};
  std::string since = now;
  const Json& conds = Object::Field(prev, "conditions");
  if (conds.is_array()) {
    for (const auto& p : conds) {
      if (Str(p, "type") == type && Str(p, "status") == c["status"].get<std::string>() &&
          !Str(p, "lastTransitionTime").empty()) {
        since = Str(p, "lastTransitionTime");
      }
    }
  }
  c["lastTransitionTime"] = since;
  if (!ok && !reason.empty()) c["reason"] = reason;
  if (!ok && !message.empty()) c["message"] = message;
  return c;
}

// Kubernetes' QoS class: Guaranteed when every container limits CPU and
// memory with requests equal to the limits (or unset), BestEffort when no
// container requests or limits anything, else Burstable.
std::string QosClass(const Json& spec) {
  bool any = false, guaranteed = true;
  for (const char* list : {"initContainers", "containers"}) {
    const Json& cs = Object::Field(spec, list);
    if (!cs.is_array()) continue;
    for (const auto& c : cs) {
      const Json& res = Object::Field(c, "resources");
      const Json& req = Object::Field(res, "requests");
      const Json& lim = Object::Field(res, "limits");
      if ((req.is_object() && !req.empty()) || (lim.is_object() && !lim.empty())) any = true;
      for (const char* r : {"cpu", "memory"}) {
        const Json& l = Object::Field(lim, r);
        const Json& q = Object::Field(req, r);
        if (l.is_null() || (!q.is_null() && q != l)) guaranteed = false;
      }
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

}  // namespace

Json PodWorker::ContainerStatusJson(const CState& c, const Json& spec) const {
  Json s = {{"name", c.name}, {"image", Str(spec, "image")}, {"imageID", c.image_id},
            {"restartCount", c.restart_count}};
  bool running = c.current && c.current->state == ContainerState::kRunning;
  s["ready"] = running && c.started && c.ready;
  s["started"] = running && c.started;
  if (c.current) s["containerID"] = "bosun://" + c.current->id;
  Json state = Json::object();
  Json last = Json::object();
  if (!c.current) {
    std::string reason = c.waiting_reason;
    std::string message = c.waiting_message;
    if (!setup_error_.empty()) {
      reason = "ContainerCreating";
      message = setup_error_;
    } else if (reason.empty()) {
      reason = (!c.init && !init_done_) ? "PodInitializing" : "ContainerCreating";
    }
    state["waiting"] = {{"reason", reason}};
    if (!message.empty()) state["waiting"]["message"] = message;
  } else if (running) {
    state["running"] = {{"startedAt", Time(c.current->started_at)}};
    if (c.previous) last["terminated"] = Terminated(*c.previous);
  } else if (c.current->state == ContainerState::kExited && ShouldRestart(c)) {
    std::string reason = c.waiting_reason.empty() ? "CrashLoopBackOff" : c.waiting_reason;
    state["waiting"] = {{"reason", reason}};
    if (!c.waiting_message.empty()) state["waiting"]["message"] = c.waiting_message;
    last["terminated"] = Terminated(*c.current);
  } else if (c.current->state == ContainerState::kExited) {
    state["terminated"] = Terminated(*c.current);
    if (c.previous) last["terminated"] = Terminated(*c.previous);
  } else {
    state["waiting"] = {{"reason", "ContainerCreating"}};
  }
  s["state"] = state;
  s["lastState"] = last;
  return s;
}

Json PodWorker::BuildStatus() {
  const Object& pod = snapshot_;
  std::string now = FormatRfc3339(env_.clock->Now());
  Json status = Json::object();
  Json init_statuses = Json::array();
  Json statuses = Json::array();
  int never_started = 0, running = 0, restarting = 0, failed = 0;
  std::vector<std::string> unready;
  std::string probe_failures;  // "; app: Readiness probe failed: …" per unready container
  std::vector<std::string> uninitialized;
  for (const auto& c : states_) {
    const Json* spec = SpecOf(c);
    if (spec == nullptr) continue;
    Json cs = ContainerStatusJson(c, *spec);
    if (c.init) {
      bool done = c.current && c.current->state == ContainerState::kExited && c.current->exit_code == 0;
      if (!done) uninitialized.push_back(c.name);
      init_statuses.push_back(std::move(cs));
      continue;
    }
    if (!cs["ready"].get<bool>()) {
      unready.push_back(c.name);
      if (!c.readiness_failure.empty() && c.current && c.current->state != ContainerState::kExited) {
        probe_failures += "; " + c.name + ": " + c.readiness_failure;
      }
    }
    statuses.push_back(std::move(cs));
    if (!c.current) {
      never_started++;
    } else if (c.current->state == ContainerState::kExited) {
      if (ShouldRestart(c)) {
        restarting++;
      } else if (c.current->exit_code != 0) {
        failed++;
      }
    } else {
      running++;
    }
  }
  std::string phase;
  if (init_failed_) {
    phase = "Failed";
  } else if (!init_done_ || !setup_error_.empty() || never_started > 0) {
    phase = "Pending";
  } else if (running > 0 || restarting > 0) {
    phase = "Running";
  } else {
    phase = failed > 0 ? "Failed" : "Succeeded";
  }
  status["phase"] = phase;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
    return "[" + s + "]";
  };
  // As Kubernetes has it: every init container has completed (true for a
  // pod without any, also while its volumes cannot be set up).
  bool initialized = uninitialized.empty();
  bool ready = unready.empty() && initialized && phase == "Running";
  const Json& prev = written_status_;
  status["conditions"] = Json::array(
      {Condition(prev, "Initialized", initialized, "ContainersNotInitialized",
                 "containers with incomplete status: " + join(uninitialized), now),
       Condition(prev, "Ready", ready, phase == "Succeeded" ? "PodCompleted" : "ContainersNotReady",
                 "containers with unready status: " + join(unready) + probe_failures, now),
       Condition(prev, "ContainersReady", ready, phase == "Succeeded" ? "PodCompleted" : "ContainersNotReady",
                 "containers with unready status: " + join(unready) + probe_failures, now),
       Condition(prev, "PodScheduled", true, "", "", now)});
  if (!setup_error_.empty()) status["message"] = setup_error_, status["reason"] = setup_reason_;
  status["hostIP"] = env_.host_ip;
  status["hostIPs"] = Json::array({{{"ip", env_.host_ip}}});
  if (!pod_ip_.empty()) {
    status["podIP"] = pod_ip_;
    status["podIPs"] = Json::array({{{"ip", pod_ip_}}});
  }
  if (start_time_) status["startTime"] = *start_time_;
  if (!init_statuses.empty()) status["initContainerStatuses"] = init_statuses;
  status["containerStatuses"] = statuses;
  status["qosClass"] = QosClass(pod.spec());
  return status;
}

void PodWorker::WriteStatus(const Json& status) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    last_status_ = status;
  }
  if (status == written_status_ || env_.client == nullptr) return;
  Object obj = snapshot_;
  obj.json()["status"] = status;
  obj.json()["metadata"].erase("resourceVersion");  // the node owns the pod's status
  auto r = env_.client->UpdateStatus(obj);
  if (!r) {
    if (r.error().code() == Code::kNotFound || r.error().code() == Code::kConflict) return;  // deleted/replaced
    log::Warn("node", "status update failed", {{"pod", obj.Key()}, {"error", r.error().message()}});
    return;
  }
  std::string old_phase = Str(written_status_, "phase");
  written_status_ = status;
  if (old_phase != Str(status, "phase")) {
    log::Info("node", "pod phase", {{"pod", obj.Key()}, {"from", old_phase}, {"to", Str(status, "phase")}});
  }
}

}  // namespace bosun::node
