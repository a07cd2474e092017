// reconciler/revision_health.h — revision health and automated rollback
// (DESIGN.md §4, issue 6 items 6–7): the live Revision record moves from
// Applied to Progressing, then to Healthy when every Deployment it created,
// replaced or gave a new pod template (a scale or a label alone starts no
// rollout) is rolled out and available, its new pods' containers running for
// `healthy_after` (10 s), and every Job it created completed, or
// to Degraded with the precise reason:
//   progress deadline exceeded for deployment shop/web: 0/3 new replicas available
//   container app of pod shop/web-7d9f-x2x4k is crash-looping (exit code 1, 3 restarts)
//   image pull failed for pod shop/web-7d9f-x2x4k: <the node's message>
//   job shop/migrate failed: BackoffLimitExceeded: Job has reached the specified backoff limit
// The live revision (GitRepository status.liveRevisionName) is judged, and
// so is an earlier one a later revision went live over before its verdict
// (a commit merged during a rollout must not hide the rollout): by the
// Deployments and Jobs it wrote that no later commit has written since.
// When later commits wrote all of them, it is Superseded (theirs to judge).
//
// When the live revision turns Degraded and autoRevert is on (the
// GitRepository's status.syncConfig, from SyncConfig.autoRevert, default on),
// the controller asks `revert` for a revert commit of it — never for a
// revision that is itself a revert (spec.reverts set) — back to the newest
// Healthy revision before it when that is further back than its parent
// (commits applied together, one refused before it, or one applied over
// another before its verdict: all undone, so the cluster returns to a state
// known to work), records the outcome
// on the record (status.revert: {commit, reason, automatic, at, backTo} or {error,
// needsHuman}) and asks for a sync, which applies the revert commit; the sync
// controller then marks the failed record Reverted with revertedBy and the
// revert's own record carries spec.reverts: the history links all three.
// Each revision is reverted automatically at most once, and never the
// repository's first commit (there is nothing to go back to). An earlier
// revision that turns Degraded is never reverted automatically (the later
// one may be its fix, or rely on it): its status.revert says needsHuman,
// with the command, and a Warning NotReverted Event says so.
//
// A Degraded revision nothing was reverted for (no revert pushed) is judged
// on: when later commits rewrote all it rolled out it is Superseded, and when
// its rollout has been available again for `recover_after` it is Healthy
// (reason Recovered); its Degraded verdict and void revert note move to
// status.degraded, and a Normal Event says so.
//
// By hand: `bosun revert REV [--reason R]` sets the annotation
// bosun.dev/revert-requested (an id and the reason, JSON) on the record; the
// controller reverts it whatever its phase — what it applied: back to
// spec.liveBefore when that is not its parent — and answers in
// status.revert.request with the same id.
//
// Decisions are Events on the Revision (`bosun describe revision NAME`).
#pragma once

#include <functional>
#include <string>

#include "core/result.h"
#include "reconciler/controller.h"

namespace bosun::reconciler {

inline constexpr const char* kRevertRequestedAnnotation = "bosun.dev/revert-requested";

struct RevertOutcome {
  std::string commit;  // the revert commit pushed
  int attempts = 1;
  // The branch already had this revert (pushed by a leader that died before
  // recording it): `commit` is that one, nothing new was pushed.
  bool pushed_before = false;
  // Reverted back to this commit (every commit after it): the `back_to`
  // asked for, when it could be used; "" when the commit alone was.
  std::string back_to;
  size_t commits = 1;  // how many commits it reverts (first-parent line)
};

struct RevisionHealthOptions {
  // Makes and pushes the revert commit of `commit` with `reason` in its
  // trailers; with `back_to` (a commit further back), of every commit after
  // back_to up to `commit` (gitsync/revert.h). kUnavailable, kTimeout and kIo are retried with back-off;
  // any other error (a conflict, a protected branch...) is recorded as
  // needing a human. Null (no followed repository): Degraded is recorded, nothing is
  // reverted.
  std::function<Result<RevertOutcome>(const std::string& commit, const std::string& back_to, const std::string& reason)>
      revert;
  // Asks the sync controller to fetch and apply now. May be null.
  std::function<void()> trigger_sync;
  // A container restarted this often and waiting in CrashLoopBackOff makes
  // the revision Degraded without waiting for the progress deadline.
  int crash_loop_restarts = 3;
  // How often a Progressing revision is looked at again, besides changes.
  std::chrono::milliseconds recheck{std::chrono::seconds(5)};
  // A rolled-out Deployment's new pods must have had their containers
  // running this long before the revision is Healthy: without a readiness
  // probe a container is available the moment it starts, so a crash loop
  // looks rolled out between its restarts. 0: at once.
  std::chrono::milliseconds healthy_after{std::chrono::seconds(10)};
  // How long the live revision is still watched once Healthy: a container
  // of its new pods that crash-loops after it had run past healthy_after (a
  // worker that fails after a few batches) makes it Degraded, and reverted
  // as any. After this, a crash loop is the running system's, not the
  // change's. 0: not watched.
  std::chrono::milliseconds watch_after_healthy{std::chrono::minutes(10)};
  // How long a Degraded revision nothing was reverted for must be rolled
  // out and available again before it is Healthy (reason Recovered).
  std::chrono::milliseconds recover_after{std::chrono::seconds(60)};
};

Status AddRevisionHealthController(ControllerManager& mgr, RevisionHealthOptions options);

}  // namespace bosun::reconciler
