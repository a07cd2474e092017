// reconciler/job_controller.h — the Job controller: runs a Job's pods to
// completion with Kubernetes' semantics (batch/v1 Job, NonIndexed).
//
// For each Job it creates pods from spec.template, owned by the Job
// (ownerReferences controller: true) and labelled job-name, controller-uid,
// batch.kubernetes.io/job-name and batch.kubernetes.io/controller-uid:
//  - it keeps active = min(parallelism, completions - succeeded) pods that
//    are neither Succeeded nor Failed (parallelism defaults to 1, completions
//    to 1; with completions unset — a work queue — it runs `parallelism` pods
//    until one succeeds, then creates no more and completes when none runs);
//  - a Failed pod counts toward backoffLimit (default 6) and is replaced
//    after Kubernetes' back-off: base (10 s) doubled per failure, capped at
//    max (6 min), counted from the newest failure; for restartPolicy
//    OnFailure the containers' restarts count instead. More failures than
//    backoffLimit (or as many restarts) fail the Job: condition Failed,
//    reason BackoffLimitExceeded, "Job has reached the specified backoff
//    limit", its running pods deleted;
//  - activeDeadlineSeconds, counted from status.startTime (set on the first
//    reconcile), fails it with DeadlineExceeded, "Job was active longer than
//    specified deadline", its running pods deleted;
//  - enough successes complete it: condition Complete (reason
//    CompletionsReached, "Reached expected number of succeeded pods") and
//    status.completionTime;
//  - spec.suspend: true deletes its running pods and creates none.
// status.active, succeeded, failed, startTime, completionTime and conditions
// are written through /status only when they change. Finished pods are kept
// (the garbage collector removes them with the Job), so the counts are read
// from them and never go down.
//
// Events: SuccessfulCreate, SuccessfulDelete, Completed, and Warnings
// FailedCreate, BackoffLimitExceeded, DeadlineExceeded.
//
// Thread-safety: the controller's reconciles run on the manager's workers.
#pragma once

#include <chrono>

#include "core/result.h"
#include "reconciler/controller.h"

namespace bosun::reconciler {

struct JobControllerOptions {
  int workers = 2;
  // Back-off before replacing a failed pod: base * 2^(failures-1), at most max.
  std::chrono::milliseconds backoff_base{std::chrono::seconds(10)};
  std::chrono::milliseconds backoff_max{std::chrono::minutes(6)};
};

// Registers the Job controller (and its Job and Pod informer handlers) with
// `mgr`; call before mgr.Start.
Status AddJobController(ControllerManager& mgr, const JobControllerOptions& options = {});

}  // namespace bosun::reconciler
