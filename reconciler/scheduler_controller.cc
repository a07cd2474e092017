// The scheduler controller (scheduler.h): informer handlers that keep the
// Scheduler's cache and queue pending pods, a reconcile that schedules one
// pod and binds it, and the API binder.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/kinds.h"
#include "core/log.h"
#include "reconciler/controller.h"
#include "reconciler/scheduler.h"

namespace bosun::reconciler {
namespace {

const KindInfo& PodKind() {
  static const KindInfo* kind = KindRegistry::Builtin().FindKind("Pod");
  return *kind;
}

std::string Str(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

bool Terminal(const Object& pod) {
  std::string phase = Str(pod.status(), "phase");
  return phase == "Succeeded" || phase == "Failed";
}

std::string NodeNameOf(const Object& pod) {
  return Str(pod.spec(), "nodeName");
}

// A pod this scheduler should place.
bool Pending(const Object& pod) {
  if (!NodeNameOf(pod).empty() || Terminal(pod) || pod.deletion_timestamp()) return false;
  std::string name = Str(pod.spec(), "schedulerName");
  return name.empty() || name == kSchedulerName || name == "default-scheduler";
}

// The pod's PodScheduled condition, or null.
const Json* PodScheduled(const Object& pod) {
  const Json& conds = Object::Field(pod.status(), "conditions");
  if (!conds.is_array()) return nullptr;
  for (const auto& c : conds) {
    if (Str(c, "type") == "PodScheduled") return &c;
  }
  return nullptr;
}

// `pod` with its PodScheduled condition set (lastTransitionTime moves only
// when the status does).
Object WithPodScheduled(const Object& pod, const std::string& status, const std::string& reason,
                        const std::string& message, const std::string& now) {
  Object out = pod;
  Json& st = out.json()["status"];
  if (!st.is_object()) st = Json::object();
  Json& conds = st["conditions"];
  if (!conds.is_array()) conds = Json::array();
  Json cond = {{"type", "PodScheduled"}, {"status", status}, {"lastProbeTime", nullptr}, {"lastTransitionTime", now}};
  if (!reason.empty()) cond["reason"] = reason;
  if (!message.empty()) cond["message"] = message;
  for (auto& c : conds) {
    if (Str(c, "type") != "PodScheduled") continue;
    if (Str(c, "status") == status && c.contains("lastTransitionTime"))
      cond["lastTransitionTime"] = c["lastTransitionTime"];
    c = std::move(cond);
    return out;
  }
  conds.push_back(std::move(cond));
  return out;
}

class ApiBinder final : public Binder {
 public:
  explicit ApiBinder(state::Client* client) : client_(client) {}

  Result<Object> Bind(const Object& pod, const std::string& node) override {
    const std::string key = pod.Key();
    Object cur = pod;
    for (int attempt = 0; attempt < 4; ++attempt) {
      Json meta = {{"uid", cur.uid()}};
      if (!cur.resource_version().empty()) meta["resourceVersion"] = cur.resource_version();
      Json patch = {{"metadata", meta}, {"spec", {{"nodeName", node}}}};
      auto r = client_->Patch(PodKind(), cur.namespace_(), cur.name(), patch);
      if (r || r.error().code() != Code::kConflict) return r;
      // Changed since it was read: bind it still if it is the same pod and
      // nobody bound it meanwhile.
      auto fresh = client_->Get(PodKind(), cur.namespace_(), cur.name());
      if (!fresh) return fresh.error();
      if (fresh->uid() != pod.uid()) {
        return Error(Code::kConflict, "pod " + key + " was replaced by another of the same name");
      }
      if (std::string bound = NodeNameOf(*fresh); !bound.empty()) {
        return Error(Code::kConflict, "pod " + key + " is already bound to node " + bound);
      }
      if (!Pending(*fresh)) return Error(Code::kConflict, "pod " + key + " no longer waits to be scheduled");
      cur = std::move(*fresh);
    }
    return Error(Code::kConflict, "pod " + key + " kept changing while it was being bound to node " + node);
  }

 private:
  state::Client* client_;
};

// Group commit of binds: while one Batch (one store transaction) is being
// written, the binds that arrive wait and go together in the next one; so
// N workers bind up to N-1 pods per write instead of one. Each is an update
// of the whole pod with its resourceVersion as precondition (the API keeps
// the stored status). A batch that fails (one pod changed meanwhile fails
// them all) is retried pod by pod through the single-patch path.
class BatchingBinder final : public Binder {
 public:
  explicit BatchingBinder(state::Client* client) : client_(client), single_(client) {}

  Result<Object> Bind(const Object& pod, const std::string& node) override {
    Request req;
    req.pod = &pod;
    req.node = &node;
    std::unique_lock<std::mutex> lock(mu_);
    pending_.push_back(&req);
    while (!req.done) {
      if (writing_) {
        cv_.wait(lock);
        continue;
      }
      writing_ = true;
      std::vector<Request*> batch;
      batch.swap(pending_);
      lock.unlock();
      Write(batch);
      lock.lock();
      writing_ = false;
      cv_.notify_all();
    }
    return std::move(*req.result);
  }

 private:
  struct Request {
    const Object* pod = nullptr;
    const std::string* node = nullptr;
    bool done = false;
    std::optional<Result<Object>> result;
  };

  void Write(const std::vector<Request*>& batch) {
    if (batch.size() > 1) {
      std::vector<state::BatchOp> ops;
      ops.reserve(batch.size());
      for (const Request* r : batch) {
        state::BatchOp op;
        op.type = state::BatchOp::Type::kUpdate;
        op.object = *r->pod;
        op.object.json()["spec"]["nodeName"] = *r->node;
        ops.push_back(std::move(op));
      }
      auto written = client_->Batch(ops);
      if (written && written->items.size() == batch.size()) {
        for (size_t i = 0; i < batch.size(); ++i) Finish(batch[i], std::move(written->items[i]));
        return;
      }
    }
    for (Request* r : batch) Finish(r, single_.Bind(*r->pod, *r->node));
  }

  void Finish(Request* r, Result<Object> result) {
    std::lock_guard<std::mutex> lock(mu_);
    r->result.emplace(std::move(result));
    r->done = true;
  }

  state::Client* client_;
  ApiBinder single_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Request*> pending_;  // guarded by mu_
  bool writing_ = false;           // guarded by mu_
};

class SchedulerController {
 public:
  SchedulerController(ControllerManager& mgr, const SchedulerOptions& options, std::shared_ptr<Binder> binder)
      : mgr_(mgr),
        options_(options),
        scheduler_(SchedulerConfig{options.scoring, options.percentage_of_nodes_to_score, options.seed}),
        pods_(mgr.Informer("Pod")),
        binder_(std::move(binder)) {}

  void set_controller(Controller* c) { controller_ = c; }

  void OnPod(const Object* old, const Object* cur) {
    if (cur == nullptr) {
      if (old == nullptr) return;
      Drop(old->Key());
      if (scheduler_.RemovePod(*old)) RetryUnschedulable();
      return;
    }
    if (!NodeNameOf(*cur).empty()) {
      if (old != nullptr && old != cur && NodeNameOf(*old).empty()) Drop(cur->Key());
      if (scheduler_.UpsertPod(*cur)) RetryUnschedulable();
      return;
    }
    if (!Pending(*cur)) return;
    // A status-only change (such as our own PodScheduled condition) cannot
    // change where the pod fits; a resync (old == cur) re-queues it.
    if (old != nullptr && old != cur && old->spec() == cur->spec() && old->uid() == cur->uid()) {
      return;
    }
    controller_->Enqueue(*cur);
  }

  void OnNode(const Object* old, const Object* cur) {
    if (cur == nullptr) {
      if (old != nullptr) scheduler_.RemoveNode(old->name());
      return;
    }
    if (scheduler_.UpsertNode(*cur)) RetryUnschedulable();
  }

  Result<Reconciled> Reconcile(const std::string& key) {
    ObjectPtr pod = pods_.GetByKey(key);
    if (!pod || !Pending(*pod)) {
      Drop(key);
      return Reconciled::Done();
    }
    auto start = std::chrono::steady_clock::now();
    ScheduleResult r = scheduler_.Schedule(*pod);
    if (r.outcome == ScheduleResult::Outcome::kAlreadyBound) return Reconciled::Done();
    if (r.outcome == ScheduleResult::Outcome::kUnschedulable) {
      auto out = Unschedulable(*pod, r.message);
      Observe(start);
      return out;
    }
    auto bound = binder_->Bind(*pod, r.node);
    if (!bound) {
      scheduler_.Forget(*pod);
      return bound.error().Wrap("binding pod " + key + " to node " + r.node);
    }
    pods_.Store(*bound);
    Drop(key);
    const Json* cond = PodScheduled(*pod);
    if (cond != nullptr && Str(*cond, "status") != "True") MarkScheduled(*bound);
    mgr_.events().Normal(*bound, "Scheduled", "Successfully assigned " + key + " to " + r.node);
    Observe(start);
    return Reconciled::Done();
  }

 private:
  void Observe(std::chrono::steady_clock::time_point start) {
    if (options_.on_attempt) options_.on_attempt(std::chrono::steady_clock::now() - start);
  }

  // Forgets `key` as unschedulable; returns its failed attempts.
  int Drop(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = unschedulable_.find(key);
    if (it == unschedulable_.end()) return 0;
    int n = it->second;
    unschedulable_.erase(it);
    return n;
  }

  // Something changed that may let an unschedulable pod fit: try them all.
  void RetryUnschedulable() {
    std::vector<std::string> keys;
    {
      std::lock_guard<std::mutex> lock(mu_);
      keys.reserve(unschedulable_.size());
      for (const auto& [k, n] : unschedulable_) keys.push_back(k);
    }
    for (const auto& k : keys) controller_->Enqueue(k);
  }

  Result<Reconciled> Unschedulable(const Object& pod, const std::string& message) {
    int attempts;
    {
      std::lock_guard<std::mutex> lock(mu_);
      attempts = ++unschedulable_[pod.Key()];
    }
    mgr_.events().Warning(pod, "FailedScheduling", message);
    const Json* cond = PodScheduled(pod);
    bool current = cond != nullptr && Str(*cond, "status") == "False" && Str(*cond, "reason") == "Unschedulable" &&
                   Str(*cond, "message") == message;
    if (!current && mgr_.client() != nullptr) {
      Object next = WithPodScheduled(pod, "False", "Unschedulable", message, FormatRfc3339(mgr_.clock().Now()));
      auto r = mgr_.client()->UpdateStatus(next);
      if (!r) return r.error().Wrap("setting the PodScheduled condition of pod " + pod.Key());
      pods_.Store(*r);
    }
    auto backoff = options_.initial_backoff;
    for (int i = 1; i < attempts && backoff < options_.max_backoff; ++i) backoff *= 2;
    return Reconciled::After(std::min(backoff, options_.max_backoff));
  }

  // A pod that was unschedulable is bound now: say so in its status, unless
  // its node wrote the status first (the resourceVersion precondition).
  void MarkScheduled(const Object& bound) {
    if (mgr_.client() == nullptr) return;
    Object next = WithPodScheduled(bound, "True", "", "", FormatRfc3339(mgr_.clock().Now()));
    auto r = mgr_.client()->UpdateStatus(next);
    if (r) {
      pods_.Store(*r);
    } else {
      log::Debug("scheduler", "could not mark the pod scheduled",
                 {{"object", bound.Key()}, {"error", r.error().message()}});
    }
  }

  ControllerManager& mgr_;
  const SchedulerOptions options_;
  Scheduler scheduler_;
  SharedInformer& pods_;
  std::shared_ptr<Binder> binder_;
  Controller* controller_ = nullptr;
  std::mutex mu_;
  std::unordered_map<std::string, int> unschedulable_;  // key -> failed attempts; guarded by mu_
};

}  // namespace

std::unique_ptr<Binder> NewApiBinder(state::Client* client) {
  return std::make_unique<BatchingBinder>(client);
}

Status AddScheduler(ControllerManager& mgr, const SchedulerOptions& options) {
  std::shared_ptr<Binder> binder = options.binder;
  if (!binder) {
    if (mgr.client() == nullptr) return Error(Code::kInvalid, "the scheduler needs an API client or a binder");
    binder = NewApiBinder(mgr.client());
  }
  auto sc = std::make_shared<SchedulerController>(mgr, options, std::move(binder));
  Controller& c = mgr.Add(std::make_unique<Controller>("scheduler", options.workers,
                                                       [sc](const std::string& key) { return sc->Reconcile(key); }));
  sc->set_controller(&c);
  mgr.Informer("Pod").AddHandler([sc](const Object* old, const Object* cur) { sc->OnPod(old, cur); });
  mgr.Informer("Node").AddHandler([sc](const Object* old, const Object* cur) { sc->OnNode(old, cur); });
  return Ok();
}

}  // namespace bosun::reconciler
