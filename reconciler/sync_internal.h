// reconciler/sync_internal.h — the sync controller's insides, shared by its
// files: sync_controller.cc (the loop, Start/Stop, an interruptible fetch),
// sync_pass.cc (one fetch-and-sync pass: what to do with the head commit),
// sync_apply.cc (the plan against the informer's cache and the one batch),
// sync_records.cc (writing Revision records: created, refused, skipped,
// failed, the history limit), sync_drift.cc (drift detection and healing),
// sync_repository.cc (the GitRepository object and its sync requests).
//
// Locks, in the order they may be taken: pass_mu (one pass at a time) →
// state_mu (the plan/apply section and the drift worker: live snapshot,
// dirty keys, the record index) → repo_mu / drift_mu / loop_mu (leaves).
// No lock is held while calling Informer::Stop or Watch::Stop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/kinds.h"
#include "gitsync/revert.h"
#include "reconciler/events.h"
#include "reconciler/history.h"
#include "reconciler/informer.h"
#include "reconciler/plan.h"
#include "reconciler/sync_controller.h"
#include "reconciler/sync_desired_internal.h"

namespace bosun::reconciler {

inline constexpr const char* kSyncComponent = "sync";
// Which of two triggers a pass is recorded as: the higher (a person's
// request over a webhook over the start or a timer).
int TriggerWeight(SyncTrigger t);

inline constexpr const char* kSyncRequestedAnnotation = "bosun.dev/sync-requested-at";
inline constexpr const char* kRepositoryName = "default";
// A fetch that keeps failing is warned about again this often.
inline constexpr std::chrono::minutes kFetchWarnEvery{10};

// Wall-clock start and monotonic duration of one step.
struct PolicyCheck;

struct StepTiming {
  WallTime started;
  std::chrono::milliseconds duration{0};
};

// What a pass knows about the commit it works on.
struct PassContext {
  SyncTrigger why = SyncTrigger::kPoll;
  std::string head;
  gitsync::CommitInfo commit;
  std::string live_commit;  // "" when nothing is live
  StepTiming fetched;
  MonoTime fetch_done{};  // when the fetch returned
  StepTiming validated;
  std::string request;  // the sync-requested-at value this pass answers ("" for none)
  Json signature;       // status.signature (sync_verify.cc); null until checked
  // Whether the head descends from the live commit: false when the branch
  // was rewritten (force-pushed) past it; nullopt when nothing is live, the
  // head is the live commit, or the walk failed.
  std::optional<bool> descends_from_live;
  // When it does: the commits it brings, live..head, oldest first.
  std::vector<std::string> since_live;
  // What the live revision was read from, when the server's source (--path,
  // --ref, --repo) is not that any more: the head is a new revision even when
  // it is the live commit, and a live commit the new ref lacks is not a
  // force-push.
  std::optional<RecordSource> source_changed_from;
  bool ref_changed = false;
};

// Puts a verification outcome (PassContext::signature) into a new record:
// status.signature, and spec.signature's status and key.
void SetSignatureStatus(Object& record, const Json& signature);

struct SyncController::Impl {
  explicit Impl(SyncOptions options);
  ~Impl();

  SyncOptions opt;
  gitsync::Mirror* mirror;
  state::Client* client;
  Clock* clock;
  // Events about revisions and drift (opt.record_events), else null.
  std::unique_ptr<EventRecorder> events;
  void Event(const Object& regarding, bool warning, const std::string& reason, const std::string& message) {
    if (events) events->Record(regarding, warning ? "Warning" : "Normal", reason, message);
  }
  RecordSource source;
  // Whether a record was read where the sync reads now: the same folder
  // (CleanFolder), or the same ref ("main" is "refs/heads/main"). A record
  // from before spec.source was recorded is taken as the same.
  bool SamePath(const RecordInfo& r) const;
  bool SameRef(const RecordInfo& r) const;
  const KindInfo* revision_kind;
  const KindInfo* repo_kind;

  // ---- the loop (sync_controller.cc)
  std::mutex loop_mu;
  std::condition_variable loop_cv;
  std::optional<SyncTrigger> pending_trigger;  // guarded by loop_mu
  std::vector<std::thread> abandoned_fetches;  // guarded by loop_mu; joined by ~Impl
  std::thread loop_thread;
  std::atomic<bool> stopping{false};
  void Loop();
  void Trigger(SyncTrigger why);
  // Mirror::Fetch on its own thread, so Stop need not wait for the network.
  Result<std::string> Fetch();
  std::chrono::milliseconds Interval();

  // ---- one pass (sync_pass.cc)
  std::mutex pass_mu;
  bool setup_done = false;  // guarded by pass_mu
  // Fetches failing in a row (guarded by pass_mu): the log says so at the
  // first, when the error changes and every kFetchWarnEvery, not at every
  // interval; and once when fetching works again.
  struct FetchFailures {
    int count = 0;
    std::string error;
    WallTime since;
    MonoTime warned;
  } fetch_failures;
  void NoteFetch(const std::string& error);
  Result<std::string> Pass(SyncTrigger why);
  // A pass while the members disagree on the source (SyncOptions::
  // source_conflict): says why in the GitRepository's status, nothing else.
  Status HoldForConflict(const PassContext& ctx, const std::string& why);
  Status Setup();
  Status LoadIndex();
  // Brings records left in Validated up to date: applied ones are finished,
  // ones of another commit than `head` are Skipped.
  Status ResolvePending(const std::string& head);
  void EnsureLiveSnapshot();

  // ---- guarded by state_mu
  std::mutex state_mu;
  RevisionIndex index;
  std::unique_ptr<DesiredLoader> loader;
  std::shared_ptr<const DesiredSnapshot> live;  // the live revision's desired set
  std::string live_record;                      // its Revision record
  SyncSettings live_settings;
  std::unordered_set<std::string> dirty;  // desired keys whose live object may differ
  bool all_dirty = true;                  // nothing verified yet: plan everything
  bool uncertain = false;                 // a batch's outcome is unknown until the next pass
  std::unique_ptr<Informer> informer;

  // ---- apply (sync_apply.cc)
  struct Planned {
    Plan plan;
    int extra_unchanged = 0;  // desired objects left out of the plan as known in sync
  };
  // The plan of `snapshot` against the live objects: the objects of files
  // that changed since the live revision and the dirty ones, and with prune
  // every managed object no longer desired. `extra` holds objects read from
  // the API this pass (nullopt: known absent); it is filled as needed.
  Result<Planned> PlanFor(const DesiredSnapshot& snapshot, const SyncSettings& settings, const std::string& revision,
                          std::unordered_map<std::string, std::optional<Object>>* extra);
  Result<std::string> Apply(PassContext& ctx, Object record, std::shared_ptr<const DesiredSnapshot> snapshot,
                            const SyncSettings& settings);
  // Removes from the drift queue the keys of `keys` (objects a batch just
  // put at `resource_version`) whose cached object is that write.
  void DropOwnWritesFromDrift(const std::vector<std::string>& keys, const std::string& resource_version);

  // FindMissingNamespaces of `snapshot` against the cache and the API
  // (sync_namespaces.cc).
  Result<MissingNamespaces> MissingNamespacesOf(const DesiredSnapshot& snapshot);
  // True when `refused` was refused as MissingNamespace and each namespace
  // it names (status.missingNamespaces) exists now: made by hand.
  bool NamespacesExistNow(const Object& refused);

  // ---- signatures (sync_verify.cc)
  struct Trust;
  std::shared_ptr<Trust> trust;  // guarded by pass_mu
  // TRUST HOOK 1: checks the head's signatures at the effective verify
  // level; nullopt to go on, else what Pass returns (a refusal or an error).
  std::optional<Result<std::string>> VerifySignatures(PassContext& ctx, const SyncSettings& settings);
  // True when `refused` was refused as Unverified under other allowed
  // signers or another --verify-commits than now: the head is checked again.
  bool TrustChangedSince(const Object& refused);
  // True when the refusal of `refused` may no longer hold, so its commit is
  // tried again: the trust changed (TrustChangedSince), or every namespace
  // it lacked exists now (NamespacesExistNow).
  bool RefusalLifted(const RecordInfo& refused);

  // ---- records (sync_records.cc)
  Result<Object> CreateRecord(Object record);
  // After a force-push (over the live commit, or over a refused or failed
  // one above it: an amended commit): the records of the commits the branch
  // at `record`'s commit no longer has get status.droppedBy {revision,
  // commit, at}, newest first back to the first still on it (at most 100
  // records back), and one ForcePushed Event on `record` names them. For an
  // ordinary push, one ancestry check of the record before.
  void MarkDropped(const Object& record);
  // `also`: more errors found beside the manifests' own (objects in a
  // namespace that does not exist), and `policy`: what the revision's
  // Policies said of the objects that loaded, so one refusal lists every
  // error, as `bosun validate` does.
  Result<std::string> WriteRefused(PassContext& ctx, const DesiredSnapshot& snapshot,
                                   const std::vector<Diagnostic>& also = {}, const PolicyCheck* policy = nullptr);
  // Records the head as Refused (reason: a CamelCase word such as
  // "InvalidManifests", "Unverified", "PolicyViolation"; what: a phrase for the
  // message, e.g. "2 policy violations") with every diagnostic, logs it, sets
  // the GitRepository's lastSyncError; nothing of the revision is applied.
  // `decorate` may add fields to the record before it is written.
  Result<std::string> WriteRefusal(PassContext& ctx, const std::string& reason, const std::string& what,
                                   const std::vector<Diagnostic>& diagnostics,
                                   const std::function<void(Object&)>& decorate = nullptr);
  void RecordSkipped(PassContext& ctx);
  // After the head is applied as `revision`: the Skipped records of the
  // commits it brought (live..head) get status.appliedWith {revision,
  // commit}: their changes are live, in that revision's.
  void NoteSkippedApplied(const PassContext& ctx, const std::string& revision);
  // `diagnostics` (when given) become the record's errors and warnings.
  // Reads one object again into the cache and `extra` (PlanFor's): a 404
  // makes it absent there.
  Status Reread(const KindInfo& kind, const std::string& ns, const std::string& name,
                std::unordered_map<std::string, std::optional<Object>>* extra);
  Status MarkFailed(PassContext& ctx, const std::string& name, const std::string& message,
                    const std::string& reason = "ApplyFailed", const std::vector<Diagnostic>* diagnostics = nullptr);
  Result<Object> UpdateRecordStatus(const Object& record);
  // reconciler::ChangeRecordStatus (3 tries); the index gets the result.
  Result<std::optional<Object>> ChangeRecordStatus(const std::string& name, const std::function<bool(Json&)>& change);
  // The live record's name ("" when none).
  std::string LiveRecordName();
  // A revert commit applied: the records it undoes are Reverted, with
  // revertedBy (the reverted one, and with a Bosun-Reverts-To trailer the
  // applied ones after the commit it goes back to).
  // mirror->Repair: true when the mirror was damaged and is made again
  // (logged); `why` says what failed.
  bool RepairMirror(const std::string& why);
  void LinkRevert(const PassContext& ctx);
  void MarkReverted(const PassContext& ctx, const RecordInfo& target);
  // The newest applied record of the commit `reverts` (an id or prefix).
  std::optional<RecordInfo> RevertedRecord(const std::string& reverts);
  // A revert commit refused or failed as revision `name`: the record it
  // reverts says so in status.revert (notApplied, needsHuman) and an Event.
  void NoteRevertNotApplied(const PassContext& ctx, const std::string& name, const std::string& reason, bool failed);
  void EnforceHistoryLimit(const SyncSettings& settings, const std::string& just_written);
  Object NewRecord(const PassContext& ctx, int64_t sequence) const;

  // ---- the GitRepository (sync_repository.cc)
  std::mutex repo_mu;
  Json repo_status = Json::object();  // guarded by repo_mu
  std::string requested;              // guarded by repo_mu: the newest sync-requested-at seen
  std::string last_handled;           // guarded by repo_mu
  // The GitRepository's spec.suspend (`bosun suspend`): new commits are
  // fetched, not applied, and drift is recorded, not healed.
  std::atomic<bool> suspended{false};
  std::atomic<bool> resumed{false};  // the next pass checks the drift left while suspended again
  void NoteSuspend(const Object& repo);
  Status ReadSuspend();                             // NoteSuspend of the GitRepository as the API has it now
  // Each suspension once (by its bosun.dev/suspended-at) and its resume: an
  // Event on the GitRepository and an entry in the live record's
  // status.suspensions. The first state seen once there is a live record (a
  // leader's start) brings that record in line, without Events (a resume or
  // a suspension while leaders changed). Newer GitRepository versions only
  // (the watch and ReadSuspend race).
  void RecordSuspension(const Object& repo);
  std::string NoteSuspensionInRecord(const std::string& at, const std::string& reason, const std::string& resumed_at,
                                     const std::string& record);
  void ReconcileSuspensionsInRecord(const std::string& open_at, const std::string& reason);
  std::mutex suspension_mu;
  bool suspension_seen = false;  // guarded by suspension_mu
  int64_t suspension_rv = 0;     // guarded by suspension_mu: the newest GitRepository version looked at
  std::string noted_suspension;  // guarded by suspension_mu: the suspended-at recorded, "" when not suspended
  std::string noted_reason;      // guarded by suspension_mu
  std::string noted_record;      // guarded by suspension_mu: the record holding its open entry
  Result<std::string> Suspended(PassContext& ctx);  // a pass's end while suspended
  // status.liveRevision and liveRevisionName of the live record (none: as is).
  void NoteLive(Json& status, const std::string& commit, const std::string& name);
  bool repo_ready = false;            // guarded by pass_mu
  std::string conflict_said;          // the source conflict last said, guarded by pass_mu
  std::atomic<bool> held_for_conflict{false};  // the last pass was held by it
  state::WatchPtr repo_watch;         // guarded by pass_mu
  Status EnsureRepository();
  void StartRepositoryWatch();
  void OnRepositoryEvent(const state::WatchEvent& ev);
  void SetRepositoryStatus(const std::function<void(Json& status)>& change);
  void WriteRepositoryStatus();
  std::string CurrentRequest();
  void MarkRequestHandled(const std::string& request);

  // ---- drift (sync_drift.cc)
  struct HealBackoff {
    MonoTime last_heal{};
    std::chrono::milliseconds delay{0};
  };
  std::mutex drift_mu;
  std::condition_variable drift_cv;
  std::set<std::string> drift_queue;              // guarded by drift_mu
  std::map<std::string, MonoTime> drift_delayed;  // guarded by drift_mu: re-check at
  bool drift_stop = false;                        // guarded by drift_mu
  std::thread drift_thread;
  std::unordered_map<std::string, HealBackoff> heal_backoff;  // drift thread only
  void StartDrift();
  void StopDrift();
  void EnqueueDrift(const std::string& key);
  std::vector<std::string> QueuedDrift();
  void DriftLoop();
  // Checks one key against the live revision (state_mu held); a drift is
  // appended to `found` with the record it belongs to, and put back when
  // `heal` (self-heal on, or a sync request).
  void CheckDrift(const std::string& key, std::vector<std::pair<std::string, DriftEntry>>* found,
                  std::vector<std::string>* retry, bool heal, bool on_request = false);
  // A sync request (`bosun sync`) with nothing new to apply and self-heal
  // off: puts back the drift found so far, as Argo CD's manual sync does.
  void HealDriftOnRequest();
  // The Event of one drift entry (opt.record_events), about `cur` or, when
  // it was deleted, its name.
  void DriftEvent(const DriftEntry& e, const std::optional<Object>& cur, bool heal);
  void FlushDrift(const std::vector<std::pair<std::string, DriftEntry>>& found);
};

}  // namespace bosun::reconciler
