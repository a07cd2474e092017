// reconciler/sync_controller.h — the sync controller: Git revisions become the
// cluster's state, all or nothing, and each one is recorded as a Revision
// (DESIGN.md §4; docs/GITOPS.md is the contract for the objects it writes).
//
// One loop thread: it waits for the fetch interval, a Trigger (webhook,
// `bosun sync`), or a change of the GitRepository's sync-requested-at
// annotation; fetches; and when the followed ref points at a commit that is
// not live, reads the desired set at that commit (only the files the tree diff
// says changed are read and parsed again), validates all of it, and only then
// applies it in one batch transaction (creates and updates in ApplyOrder,
// prunes managed objects that left the repository when SyncConfig.prune), with
// the Revision record's move to Applied in the same transaction (the record
// is written in phase Validated just before; the batch carries the
// bosun.dev/applied-at annotation on it, and its status follows at once). A
// revision with any invalid manifest is Refused with every error, and nothing
// of it is written. First-parent commits between the live one and the head
// are recorded as Skipped. While a revision is live the controller watches the
// managed objects and records drift; with SyncConfig.selfHeal it puts them
// back.
//
// The live objects come from a cache fed by one watch per kind of managed
// object (reconciler/informer.h), so a sync compares only the objects of
// changed files (and any that changed live) instead of listing everything.
//
// Restarts and leader changes: everything the controller knows is in the
// store (GitRepository status, Revision records, the marks on objects), so a
// new leader's controller carries on where the old one stopped: a record
// left in Validated is resumed (its batch did not commit) or finished (it
// did), never duplicated, so a revision is applied exactly once.
//
// Thread-safety: every method may be called from any thread; one pass runs
// at a time (SyncOnce waits for the loop's).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "gitsync/mirror.h"
#include "state/client.h"

namespace bosun::reconciler {

// What started a sync pass, recorded on each Revision (spec.trigger): the
// poll, a webhook (also one a follower forwarded), a person's `bosun sync`,
// the server's start, a member taking over from another leader
// (kLeaderChange, "leader-change"), a Git push hook (`bosun up`'s, `bosun
// sync --trigger push`), or bosun's own revert commit.
// kResume: `bosun resume` (a catch-up pass, which puts back drift only as
// self-heal says, unlike a sync request).
enum class SyncTrigger { kPoll, kWebhook, kManual, kStartup, kPush, kRevert, kResume, kLeaderChange };

struct SyncOptions {
  gitsync::Mirror* mirror = nullptr;  // not owned; outlives the controller
  state::Client* client = nullptr;    // not owned; admin token
  // The path under the repository holding the manifests ("" = all of it).
  std::string path;
  // Polling interval (SyncConfig.spec.interval in the repo overrides it).
  std::chrono::milliseconds interval{60000};
  // History: keep at most this many Revision records (0 = all; a
  // SyncConfig's revisionHistoryLimit overrides it, 0 there too meaning
  // all) and at most this many bytes of them (oldest removed first; the live
  // record is never removed).
  size_t history_limit = 0;
  size_t history_max_bytes = 256u << 20;
  // Defaults for what a repository's SyncConfig does not say.
  bool prune = true;
  bool self_heal = true;
  FieldValidation field_validation = FieldValidation::kStrict;
  // Timestamps in records and status (intervals and waits use real time).
  Clock* clock = &Clock::System();
  // Signed commits (docs/GITOPS.md "Signed commits"): the least verify
  // level ("none", "head" or "all"; a SyncConfig can only raise it) and the
  // allowed-signers file (read again when it changes; "" = only the
  // cluster's own key is trusted).
  std::string verify = "none";
  std::string allowed_signers_file;
  // Record Events (reconciler/events.h) about what the sync does: each
  // revision applied, refused or failed (regarding its Revision record) and
  // each drift found (regarding the object), as Flux's controllers do, so
  // `bosun get events` and `bosun describe` show them. Off in unit tests of
  // the sync that count writes; `bosun server` turns it on.
  bool record_events = false;
  // How long the start of the managed-object watches may take.
  std::chrono::milliseconds watch_start_timeout{30000};
  // A fetch still running after this is said in the GitRepository's
  // status.fetchingSince (a remote that stalls), until it ends.
  std::chrono::milliseconds fetch_slow_after{5000};
  // Why the members of the cluster disagree on what to follow, when they do
  // (cli/member_settings.h), or nullopt. Asked before each pass: while it
  // answers, the pass writes nothing but the GitRepository's
  // status.lastSyncError (and answers a `bosun sync` with it): neither the
  // spec nor any object, as a leader with other flags than the others'
  // would switch the cluster's source at each election.
  std::function<std::optional<std::string>()> source_conflict;
  // What the first pass is recorded as: kStartup for a server that has just
  // started, kLeaderChange for a member that took over from another leader.
  SyncTrigger first_trigger = SyncTrigger::kStartup;
  // Tests only: called after a revision's record is written (phase
  // Validated) and before its batch; an error ends the pass right there, as
  // a crash would, and the next pass (or the next leader) resumes the record.
  std::function<Status(const std::string& record_name)> before_apply;
};

// "poll", "webhook", "manual", "startup", "push", "revert", "resume",
// "leader-change"
const char* TriggerName(SyncTrigger t);

// How the GitRepository's status.lastSyncError starts while the members
// disagree on the source (SyncOptions::source_conflict holds the sync).
inline constexpr const char* kConflictPrefix = "not syncing: ";

// The annotation that says what asked for a sync through the GitRepository's
// bosun.dev/sync-requested-at: "push@<that request's time>" or "webhook@…"
// (absent, or naming another request: a person).
inline constexpr const char* kSyncTriggerAnnotation = "bosun.dev/sync-trigger";

// `bosun suspend` (docs/GITOPS.md "Suspending"): the GitRepository's
// spec.suspend holds the sync, and these annotations say since when and why.
inline constexpr const char* kSuspendedAtAnnotation = "bosun.dev/suspended-at";
inline constexpr const char* kSuspendReasonAnnotation = "bosun.dev/suspend-reason";
// Whether the GitRepository `repo` says the sync is suspended.
bool RepositorySuspended(const Object& repo);

class SyncController {
 public:
  // Checks the options (kInvalid without a mirror or client). Does not start.
  static Result<std::unique_ptr<SyncController>> Create(SyncOptions options);
  ~SyncController();  // Stop()

  // Starts the loop (its first pass is a SyncTrigger::kStartup sync).
  void Start();
  // Stops the loop and the watches; returns when no work of the controller
  // is running, without waiting for a fetch in progress (that one finishes
  // on its own thread, bounded by the mirror's time-out, and is joined when
  // the controller is destroyed). A request to the API in progress is
  // waited for (bounded by the client's time-out). A sync in the middle of
  // its batch write either committed or did not; either way the next leader
  // finds a consistent store. Start may be called again afterwards.
  void Stop();
  // Asks for a fetch and sync now (coalesced with one already pending).
  void Trigger(SyncTrigger why);

  // One fetch-and-sync pass on the caller's thread (for tests and `bosun
  // sync` in-process); it starts the watches it needs (Stop or the
  // destructor ends them). Returns the name of the Revision record written
  // (applied, refused or failed: a refusal is an outcome, not an error), or
  // "" when there was nothing to do (the followed commit is live, or was
  // already refused; one whose apply failed is retried only by kManual).
  // Errors: the API or the mirror could not be used (no commit fetched yet,
  // the store unreachable, an apply whose outcome is not known yet); the next
  // pass carries on.
  Result<std::string> SyncOnce(SyncTrigger why);

  // Whether the GitRepository's spec.suspend (`bosun suspend`), as this
  // controller last saw it, holds it: new commits are fetched, not applied,
  // and drift is recorded, not healed.
  bool Suspended() const;

  struct Impl;

 private:
  explicit SyncController(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bosun::reconciler
