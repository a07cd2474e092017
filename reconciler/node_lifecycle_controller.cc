#include "reconciler/node_lifecycle_controller.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/log.h"
#include "reconciler/deployment_util.h"

namespace bosun::reconciler {
namespace {

using std::chrono::milliseconds;

constexpr const char* kComponent = "node-lifecycle";
constexpr const char* kUnknownReason = "NodeStatusUnknown";
constexpr const char* kUnknownMessage = "Kubelet stopped posting node status.";

using apps::Str;

const Json* ReadyCondition(const Object& node) { return apps::FindCondition(node.status(), "Ready"); }

std::string ReadyHeartbeat(const Object& node) {
  const Json* c = ReadyCondition(node);
  return c == nullptr ? "" : Str(*c, "lastHeartbeatTime");
}

bool IsUnreachableTaint(const Json& t) { return Str(t, "key") == kUnreachableTaint; }

bool HasUnreachableTaints(const Object& node) {
  const Json& taints = Object::Field(node.spec(), "taints");
  bool no_schedule = false, no_execute = false;
  if (taints.is_array()) {
    for (const auto& t : taints) {
      if (!IsUnreachableTaint(t)) continue;
      no_schedule |= Str(t, "effect") == "NoSchedule";
      no_execute |= Str(t, "effect") == "NoExecute";
    }
  }
  return no_schedule && no_execute;
}

bool HasAnyUnreachableTaint(const Object& node) {
  const Json& taints = Object::Field(node.spec(), "taints");
  if (!taints.is_array()) return false;
  return std::any_of(taints.begin(), taints.end(), IsUnreachableTaint);
}

// How long a pod stays on an unreachable node: its toleration of
// unreachable:NoExecute (nullopt = for good), else `fallback`.
std::optional<milliseconds> EvictionDelay(const Object& pod, milliseconds fallback) {
  const Json& tolerations = Object::Field(pod.spec(), "tolerations");
  if (tolerations.is_array()) {
    for (const auto& t : tolerations) {
      std::string effect = Str(t, "effect");
      if (!effect.empty() && effect != "NoExecute") continue;
      std::string op = Str(t, "operator");
      std::string key = Str(t, "key");
      bool matches = op == "Exists" ? (key.empty() || key == kUnreachableTaint)
                                    : (key == kUnreachableTaint && Str(t, "value").empty());
      if (!matches) continue;
      const Json& secs = Object::Field(t, "tolerationSeconds");
      if (!secs.is_number_integer()) return std::nullopt;
      return milliseconds(std::max<int64_t>(0, secs.get<int64_t>()) * 1000);
    }
  }
  return fallback;
}

class NodeLifecycleController {
 public:
  NodeLifecycleController(ControllerManager& mgr, const NodeLifecycleOptions& o)
      : mgr_(mgr), options_(o), nodes_(mgr.Informer("Node")), leases_(mgr.Informer("Lease")),
        pods_(mgr.Informer("Pod")), pod_kind_(*KindRegistry::Builtin().FindKind("Pod")) {}

  // The manager's controller and informer handlers share ownership of `self`.
  static void Register(const std::shared_ptr<NodeLifecycleController>& self) {
    self->controller_ = &self->mgr_.Add(std::make_unique<Controller>(
        "node-lifecycle", self->options_.workers, [self](const std::string& key) { return self->Reconcile(key); }));
    self->nodes_.AddHandler([self](const Object* old, const Object* cur) {
      if (cur == nullptr) {
        if (old != nullptr) self->controller_->Enqueue(old->name());  // forgets its health
        return;
      }
      std::string heartbeat = ReadyHeartbeat(*cur);
      self->Observe(cur->name(), nullptr, &heartbeat);
      self->controller_->Enqueue(cur->name());
    });
    self->leases_.AddHandler([self](const Object*, const Object* cur) {
      if (cur == nullptr || cur->namespace_() != kNodeLeaseNamespace) return;
      std::string renew = Str(cur->spec(), "renewTime");
      self->Observe(cur->name(), &renew, nullptr);
      self->controller_->Enqueue(cur->name());
    });
  }

 private:
  struct Health {
    std::string renew_time;  // the Lease's spec.renewTime last seen
    std::string heartbeat;   // the Ready condition's lastHeartbeatTime last seen
    MonoTime probe;          // when either last changed, by our clock
  };

  // Records what a Node or Lease says now; a change is a sign of life.
  void Observe(const std::string& node, const std::string* renew, const std::string* heartbeat) {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, added] = health_.try_emplace(node);
    Health& h = it->second;
    bool changed = added;
    if (renew != nullptr && *renew != h.renew_time) {
      h.renew_time = *renew;
      changed = true;
    }
    if (heartbeat != nullptr && *heartbeat != h.heartbeat) {
      h.heartbeat = *heartbeat;
      changed = true;
    }
    if (changed) h.probe = mgr_.clock().Monotonic();
  }

  MonoTime LastProbe(const std::string& node) {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, added] = health_.try_emplace(node);
    if (added) it->second.probe = mgr_.clock().Monotonic();
    return it->second.probe;
  }

  Result<Reconciled> Reconcile(const std::string& name);
  Status MarkUnknown(const Object& node, ObjectPtr* stored);
  Status SetTaints(const Object& node, bool unreachable);
  Result<std::optional<MonoTime>> Evict(const Object& node, MonoTime unreachable_since, MonoTime now);

  ControllerManager& mgr_;
  const NodeLifecycleOptions options_;
  SharedInformer& nodes_;
  SharedInformer& leases_;
  SharedInformer& pods_;
  const KindInfo& pod_kind_;
  Controller* controller_ = nullptr;
  std::mutex mu_;
  std::map<std::string, Health> health_;  // guarded by mu_
};

Status NodeLifecycleController::MarkUnknown(const Object& node, ObjectPtr* stored) {
  const std::string now = FormatRfc3339(mgr_.clock().Now());
  Object updated = node;
  Json& status = updated.json()["status"];
  if (!status.is_object()) status = Json::object();
  Json& conds = status["conditions"];
  if (!conds.is_array()) conds = Json::array();
  bool has_ready = false;
  for (auto& c : conds) {
    std::string type = Str(c, "type");
    if (type != "Ready" && type != "MemoryPressure" && type != "DiskPressure" && type != "PIDPressure") continue;
    has_ready |= type == "Ready";
    if (Str(c, "status") != "Unknown") c["lastTransitionTime"] = now;
    c["status"] = "Unknown";
    c["reason"] = kUnknownReason;
    c["message"] = kUnknownMessage;
  }
  if (!has_ready) {
    conds.push_back({{"type", "Ready"},
                     {"status", "Unknown"},
                     {"reason", kUnknownReason},
                     {"message", kUnknownMessage},
                     {"lastHeartbeatTime", ReadyHeartbeat(node)},
                     {"lastTransitionTime", now}});
  }
  auto r = mgr_.client()->UpdateStatus(updated);
  if (!r) return r.error().Wrap("marking node " + node.name() + " Unknown");
  nodes_.Store(*r);
  mgr_.events().Normal(node, "NodeNotReady", "Node " + node.name() + " status is now: NodeNotReady");
  log::Warn(kComponent, "node stopped renewing its lease: marked Unknown", {{"node", node.name()}});
  *stored = std::make_shared<const Object>(std::move(*r));  // last: `node` may be what *stored held
  return Ok();
}

Status NodeLifecycleController::SetTaints(const Object& node, bool unreachable) {
  Object updated = node;
  Json& spec = updated.json()["spec"];
  if (!spec.is_object()) spec = Json::object();
  Json kept = Json::array();
  if (spec.contains("taints") && spec["taints"].is_array()) {
    for (const auto& t : spec["taints"]) {
      if (!IsUnreachableTaint(t)) kept.push_back(t);
    }
  }
  if (unreachable) {
    const std::string now = FormatRfc3339(mgr_.clock().Now());
    for (const char* effect : {"NoSchedule", "NoExecute"}) {
      kept.push_back({{"key", kUnreachableTaint}, {"effect", effect}, {"timeAdded", now}});
    }
  }
  if (kept.empty()) {
    spec.erase("taints");
  } else {
    spec["taints"] = kept;
  }
  auto r = mgr_.client()->Update(updated);
  if (!r) return r.error().Wrap(std::string(unreachable ? "tainting" : "untainting") + " node " + node.name());
  nodes_.Store(*r);
  if (unreachable) {
    mgr_.events().Warning(node, "NodeUnreachable",
                          "Node " + node.name() + " is unreachable: tainted " + kUnreachableTaint +
                              ":NoSchedule and :NoExecute");
  } else {
    mgr_.events().Normal(node, "NodeReachable",
                         "Node " + node.name() + " renews its lease again: removed the " + kUnreachableTaint +
                             " taints");
    log::Info(kComponent, "node is reachable again: taints removed", {{"node", node.name()}});
  }
  return Ok();
}

// Deletes the pods whose time on the unreachable node is up; returns when the
// next one is due (nullopt: none).
Result<std::optional<MonoTime>> NodeLifecycleController::Evict(const Object& node, MonoTime unreachable_since,
                                                                MonoTime now) {
  std::optional<MonoTime> next;
  int evicted = 0;
  for (const auto& pod : pods_.List()) {
    if (Str(pod->spec(), "nodeName") != node.name()) continue;
    std::string phase = Str(pod->status(), "phase");
    if (phase == "Succeeded" || phase == "Failed") continue;
    auto delay = EvictionDelay(*pod, options_.pod_eviction_timeout);
    if (!delay) continue;  // tolerates the taint for good
    MonoTime due = unreachable_since + *delay;
    if (now < due) {
      if (!next || due < *next) next = due;
      continue;
    }
    auto r = mgr_.client()->Delete(pod_kind_, pod->namespace_(), pod->name(), pod->resource_version());
    if (!r && r.error().code() != Code::kNotFound) {
      return r.error().Wrap("evicting pod " + pod->Key() + " from node " + node.name());
    }
    pods_.Forget(pod->namespace_(), pod->name(), r ? r->resource_version() : "");
    mgr_.events().Normal(*pod, "TaintManagerEviction", "Marking for deletion Pod " + pod->Key());
    log::Info(kComponent, "evicted pod from unreachable node", {{"pod", pod->Key()}, {"node", node.name()}});
    ++evicted;
  }
  if (evicted > 0) {
    mgr_.events().Warning(node, "NodeControllerEviction",
                          "Evicted " + std::to_string(evicted) + " pod(s) from unreachable node " + node.name());
  }
  return next;
}

Result<Reconciled> NodeLifecycleController::Reconcile(const std::string& name) {
  ObjectPtr node = nodes_.Get("", name);
  if (!node) {
    std::lock_guard<std::mutex> lock(mu_);
    health_.erase(name);
    return Reconciled::Done();
  }
  const MonoTime now = mgr_.clock().Monotonic();
  const MonoTime probe = LastProbe(name);
  const auto silent = now - probe;
  auto after = [&](MonoTime at) {
    return Reconciled::After(std::max(milliseconds(1), std::chrono::ceil<milliseconds>(at - now)));
  };

  if (silent <= options_.node_monitor_grace) {
    // Alive: the daemon writes Ready=True itself; the taints are ours to remove.
    if (HasAnyUnreachableTaint(*node)) {
      if (auto s = SetTaints(*node, false); !s) return s.error();
    }
    return after(probe + options_.node_monitor_grace + milliseconds(1));
  }

  const MonoTime unreachable_since = probe + options_.node_monitor_grace;
  const Json* ready = ReadyCondition(*node);
  if (ready == nullptr || Str(*ready, "status") != "Unknown") {
    if (auto s = MarkUnknown(*node, &node); !s) return s.error();
  }
  if (!HasUnreachableTaints(*node)) {
    if (auto s = SetTaints(*node, true); !s) return s.error();
  }
  auto next = Evict(*node, unreachable_since, now);
  if (!next) return next.error();
  // Look again when the next pod is due, and now and then for pods that
  // arrive on the node meanwhile.
  MonoTime again = now + std::max(options_.pod_eviction_timeout, options_.node_monitor_grace);
  if (*next && **next < again) again = **next;
  return after(again);
}

}  // namespace

Status AddNodeLifecycleController(ControllerManager& mgr, const NodeLifecycleOptions& options) {
  if (options.node_monitor_grace.count() <= 0 || options.pod_eviction_timeout.count() < 0) {
    return Error(Code::kInvalid, "node lifecycle: the grace period must be positive and the eviction timeout not negative");
  }
  NodeLifecycleController::Register(std::make_shared<NodeLifecycleController>(mgr, options));
  return Ok();
}

}  // namespace bosun::reconciler
