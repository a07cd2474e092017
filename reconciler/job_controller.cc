#include "reconciler/job_controller.h"

#include <algorithm>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/log.h"
#include "reconciler/deployment_util.h"

namespace bosun::reconciler {
namespace {

using std::chrono::milliseconds;
using apps::PodReady;
using apps::Str;

constexpr const char* kComponent = "job-controller";
constexpr const char* kFailedReasonBackoff = "BackoffLimitExceeded";
constexpr const char* kFailedMessageBackoff = "Job has reached the specified backoff limit";
constexpr const char* kFailedReasonDeadline = "DeadlineExceeded";
constexpr const char* kFailedMessageDeadline = "Job was active longer than specified deadline";

std::optional<int64_t> Int(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

bool HasTrueCondition(const Json& status, const std::string& type) {
  const Json& conds = Object::Field(status, "conditions");
  if (!conds.is_array()) return false;
  for (const auto& c : conds) {
    if (Str(c, "type") == type && Str(c, "status") == "True") return true;
  }
  return false;
}

// Sets condition `type` (keeping lastTransitionTime when the status stays).
void SetCondition(Json& status, const std::string& type, const std::string& value, const std::string& reason,
                  const std::string& message, const std::string& now) {
  Json& conds = status["conditions"];
  if (!conds.is_array()) conds = Json::array();
  for (auto& c : conds) {
    if (Str(c, "type") != type) continue;
    if (Str(c, "status") != value) c["lastTransitionTime"] = now;
    c["status"] = value;
    c["reason"] = reason;
    c["message"] = message;
    c["lastProbeTime"] = now;
    return;
  }
  conds.push_back({{"type", type},
                   {"status", value},
                   {"reason", reason},
                   {"message", message},
                   {"lastProbeTime", now},
                   {"lastTransitionTime", now}});
}

std::string Phase(const Object& pod) { return Str(pod.status(), "phase"); }

// The restarts of a pod's containers (OnFailure counts these as failures).
int64_t Restarts(const Object& pod) {
  int64_t n = 0;
  for (const char* field : {"initContainerStatuses", "containerStatuses"}) {
    const Json& list = Object::Field(pod.status(), field);
    if (!list.is_array()) continue;
    for (const auto& cs : list) n += Int(cs, "restartCount").value_or(0);
  }
  return n;
}

// When a failed pod failed: its containers' newest finishedAt, else its
// creation (an earlier time, so the back-off is never longer than asked).
std::optional<WallTime> FailedAt(const Object& pod) {
  std::optional<WallTime> at;
  const Json& list = Object::Field(pod.status(), "containerStatuses");
  if (list.is_array()) {
    for (const auto& cs : list) {
      const Json& term = Object::Field(Object::Field(cs, "state"), "terminated");
      if (auto t = ParseRfc3339(Str(term, "finishedAt")); t && (!at || *t > *at)) at = t;
    }
  }
  if (!at) at = ParseRfc3339(pod.creation_timestamp());
  return at;
}

// Pods the API has not yet scheduled or started go first when scaling down
// (as Kubernetes' ActivePods ordering).
int DeletionRank(const Object& pod) {
  if (Str(pod.spec(), "nodeName").empty()) return 0;
  if (Phase(pod) == "Pending") return 1;
  if (!PodReady(pod)) return 2;
  return 3;
}

class JobController {
 public:
  JobController(ControllerManager& mgr, const JobControllerOptions& o)
      : mgr_(mgr), options_(o), jobs_(mgr.Informer("Job")), pods_(mgr.Informer("Pod")),
        pod_kind_(*KindRegistry::Builtin().FindKind("Pod")) {}

  // The manager's controller and informer handlers share ownership of `self`,
  // so it lives as long as the manager.
  static void Register(const std::shared_ptr<JobController>& self) {
    self->controller_ = &self->mgr_.Add(std::make_unique<Controller>(
        "job-controller", self->options_.workers, [self](const std::string& key) { return self->Reconcile(key); }));
    self->jobs_.AddHandler([self](const Object*, const Object* cur) {
      if (cur != nullptr) self->controller_->Enqueue(*cur);
    });
    self->pods_.AddHandler([self](const Object* old, const Object* cur) {
      for (const Object* p : {old, cur}) {
        if (p == nullptr) continue;
        auto ref = p->controller_ref();
        if (ref && ref->kind == "Job") self->controller_->Enqueue(ObjectKey(p->namespace_(), ref->name));
      }
    });
  }

 private:
  Result<Reconciled> Reconcile(const std::string& key);
  Status DeletePods(const Object& job, const std::vector<ObjectPtr>& pods);
  Result<ObjectPtr> CreatePod(const Object& job);

  ControllerManager& mgr_;
  const JobControllerOptions options_;
  SharedInformer& jobs_;
  SharedInformer& pods_;
  const KindInfo& pod_kind_;
  Controller* controller_ = nullptr;
};

Status JobController::DeletePods(const Object& job, const std::vector<ObjectPtr>& pods) {
  for (const auto& p : pods) {
    auto r = mgr_.client()->Delete(pod_kind_, p->namespace_(), p->name());
    if (!r && r.error().code() != Code::kNotFound) {
      mgr_.events().Warning(job, "FailedDelete", "Error deleting pod " + p->name() + ": " + r.error().message());
      return r.error().Wrap("deleting pod " + p->Key() + " of job " + job.Key());
    }
    pods_.Forget(p->namespace_(), p->name(), r ? r->resource_version() : "");
    mgr_.events().Normal(job, "SuccessfulDelete", "Deleted pod: " + p->name());
  }
  return Ok();
}

Result<ObjectPtr> JobController::CreatePod(const Object& job) {
  const Json& tmpl = Object::Field(job.spec(), "template");
  Object pod(GroupVersionKind{"", "v1", "Pod"}, job.namespace_(), "");
  Json& meta = pod.json()["metadata"];
  meta.erase("name");
  meta["generateName"] = job.name() + "-";
  const Json& tmeta = Object::Field(tmpl, "metadata");
  if (Object::Field(tmeta, "labels").is_object()) meta["labels"] = tmeta["labels"];
  if (Object::Field(tmeta, "annotations").is_object()) meta["annotations"] = tmeta["annotations"];
  pod.set_label("job-name", job.name());
  pod.set_label("controller-uid", job.uid());
  pod.set_label("batch.kubernetes.io/job-name", job.name());
  pod.set_label("batch.kubernetes.io/controller-uid", job.uid());
  OwnerReference ref;
  ref.api_version = "batch/v1";
  ref.kind = "Job";
  ref.name = job.name();
  ref.uid = job.uid();
  ref.controller = true;
  ref.block_owner_deletion = true;
  pod.set_owner_references({ref});
  pod.json()["spec"] = Object::Field(tmpl, "spec");
  auto r = mgr_.client()->Create(pod);
  if (!r) {
    mgr_.events().Warning(job, "FailedCreate", "Error creating: " + r.error().message());
    return r.error().Wrap("creating a pod for job " + job.Key());
  }
  pods_.Store(*r);
  mgr_.events().Normal(job, "SuccessfulCreate", "Created pod: " + r->name());
  return std::make_shared<const Object>(std::move(*r));
}

Result<Reconciled> JobController::Reconcile(const std::string& key) {
  auto [ns, name] = SplitKey(key);
  ObjectPtr job = jobs_.Get(ns, name);
  if (!job) return Reconciled::Done();  // deleted: the garbage collector removes its pods
  const Json& spec = job->spec();
  const Json& old_status = job->status();

  std::vector<ObjectPtr> active, succeeded, failed;
  for (auto& p : pods_.ListOwnedBy(job->uid())) {
    if (p->namespace_() != ns) continue;
    std::string phase = Phase(*p);
    if (phase == "Succeeded") {
      succeeded.push_back(p);
    } else if (phase == "Failed") {
      failed.push_back(p);
    } else {
      active.push_back(p);
    }
  }

  // A finished Job keeps no running pods (one may have been created by a
  // reconcile that raced the finishing write).
  if (HasTrueCondition(old_status, "Complete") || HasTrueCondition(old_status, "Failed")) {
    if (auto s = DeletePods(*job, active); !s) return s.error();
    return Reconciled::Done();
  }

  const WallTime now = mgr_.clock().Now();
  const std::string now_s = FormatRfc3339(now);
  const bool suspended = Object::Field(spec, "suspend").is_boolean() && spec["suspend"].get<bool>();
  const int64_t parallelism = std::max<int64_t>(0, Int(spec, "parallelism").value_or(1));
  const std::optional<int64_t> completions = Int(spec, "completions");
  const int64_t backoff_limit = std::max<int64_t>(0, Int(spec, "backoffLimit").value_or(6));
  const std::optional<int64_t> deadline_s = Int(spec, "activeDeadlineSeconds");
  const std::string restart_policy = Str(Object::Field(Object::Field(spec, "template"), "spec"), "restartPolicy");

  Json status = old_status.is_object() ? old_status : Json::object();
  if (!suspended && Str(status, "startTime").empty()) status["startTime"] = now_s;
  const int64_t n_succeeded = std::max<int64_t>(Int(status, "succeeded").value_or(0), succeeded.size());
  int64_t n_failed = std::max<int64_t>(Int(status, "failed").value_or(0), failed.size());

  // Why it fails, if it does (Kubernetes checks the back-off limit first).
  std::string fail_reason, fail_message;
  int64_t restarts = 0;
  if (restart_policy == "OnFailure") {
    for (const auto& p : active) restarts += Restarts(*p);
  }
  bool restarts_exceeded = restart_policy == "OnFailure" && (backoff_limit == 0 ? restarts > 0 : restarts >= backoff_limit);
  std::optional<WallTime> start = ParseRfc3339(Str(status, "startTime"));
  if (n_failed > backoff_limit || restarts_exceeded) {
    fail_reason = kFailedReasonBackoff;
    fail_message = kFailedMessageBackoff;
  } else if (!suspended && deadline_s && start && now - *start >= std::chrono::seconds(*deadline_s)) {
    fail_reason = kFailedReasonDeadline;
    fail_message = kFailedMessageDeadline;
  }
  bool complete = false;
  if (fail_reason.empty()) {
    complete = completions ? n_succeeded >= *completions : (n_succeeded > 0 && active.empty());
  }

  milliseconds requeue{0};
  auto requeue_in = [&](milliseconds d) {
    d = std::max(d, milliseconds(1));
    requeue = requeue.count() == 0 ? d : std::min(requeue, d);
  };
  size_t n_active = active.size();
  if (!fail_reason.empty() || complete || suspended) {
    if (auto s = DeletePods(*job, active); !s) return s.error();
    if (!fail_reason.empty()) n_failed += static_cast<int64_t>(active.size());  // as Kubernetes counts them
    n_active = 0;
  } else {
    int64_t want = parallelism;
    if (completions) {
      want = std::min(parallelism, *completions - n_succeeded);
    } else if (n_succeeded > 0) {
      want = std::min<int64_t>(parallelism, static_cast<int64_t>(active.size()));  // finishing: no new pods
    }
    want = std::max<int64_t>(want, 0);
    if (static_cast<int64_t>(active.size()) > want) {
      std::vector<ObjectPtr> extra = active;
      std::stable_sort(extra.begin(), extra.end(),
                       [](const ObjectPtr& a, const ObjectPtr& b) { return DeletionRank(*a) < DeletionRank(*b); });
      extra.resize(active.size() - static_cast<size_t>(want));
      if (auto s = DeletePods(*job, extra); !s) return s.error();
      n_active = static_cast<size_t>(want);
    } else if (static_cast<int64_t>(active.size()) < want) {
      // Kubernetes' back-off after failures: base * 2^(failures-1) from the newest.
      std::optional<WallTime> last_failure;
      for (const auto& p : failed) {
        if (auto t = FailedAt(*p); t && (!last_failure || *t > *last_failure)) last_failure = t;
      }
      milliseconds wait{0};
      if (n_failed > 0 && last_failure) {
        milliseconds backoff = options_.backoff_base;
        for (int64_t i = 1; i < n_failed && backoff < options_.backoff_max; ++i) backoff *= 2;
        backoff = std::min(backoff, options_.backoff_max);
        auto ready_at = *last_failure + backoff;
        if (now < ready_at) wait = std::chrono::duration_cast<milliseconds>(ready_at - now);
      }
      if (wait.count() > 0) {
        requeue_in(wait);
      } else {
        for (int64_t i = static_cast<int64_t>(active.size()); i < want; ++i) {
          auto pod = CreatePod(*job);
          if (!pod) return pod.error();
          ++n_active;
        }
      }
    }
  }

  int64_t ready = 0;
  if (n_active > 0) {
    for (const auto& p : active) ready += PodReady(*p) ? 1 : 0;
  }
  status["active"] = static_cast<int64_t>(n_active);
  status["ready"] = std::min<int64_t>(ready, static_cast<int64_t>(n_active));
  status["succeeded"] = n_succeeded;
  status["failed"] = n_failed;
  if (suspended) {
    SetCondition(status, "Suspended", "True", "JobSuspended", "Job suspended", now_s);
  } else if (HasTrueCondition(status, "Suspended")) {
    SetCondition(status, "Suspended", "False", "JobResumed", "Job resumed", now_s);
  }
  if (!fail_reason.empty()) {
    SetCondition(status, "Failed", "True", fail_reason, fail_message, now_s);
  } else if (complete) {
    SetCondition(status, "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods", now_s);
    status["completionTime"] = now_s;
  }

  if (status != old_status) {
    Object updated = *job;
    updated.json()["status"] = status;
    auto r = mgr_.client()->UpdateStatus(updated);
    if (!r) return r.error().Wrap("writing the status of job " + job->Key());
    jobs_.Store(*r);
  }
  if (!fail_reason.empty()) {
    mgr_.events().Warning(*job, fail_reason, fail_message);
    log::Info(kComponent, "job failed", {{"job", job->Key()}, {"reason", fail_reason}});
  } else if (complete) {
    mgr_.events().Normal(*job, "Completed", "Job completed");
    log::Info(kComponent, "job completed", {{"job", job->Key()}, {"succeeded", std::to_string(n_succeeded)}});
  } else if (deadline_s && start && !suspended) {
    requeue_in(std::chrono::duration_cast<milliseconds>(*start + std::chrono::seconds(*deadline_s) - now));
  }
  return requeue.count() > 0 ? Reconciled::After(requeue) : Reconciled::Done();
}

}  // namespace

Status AddJobController(ControllerManager& mgr, const JobControllerOptions& options) {
  JobController::Register(std::make_shared<JobController>(mgr, options));
  return Ok();
}

}  // namespace bosun::reconciler
