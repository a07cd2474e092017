// reconciler/history.h — the Revision records of docs/GITOPS.md: the
// cluster's changelog, one record per commit the sync controller acted on.
//
// This file holds what a record looks like and how it is kept, as plain
// functions over Objects with no I/O: naming (zero-padded sequence numbers),
// the spec built from a commit, the status pieces (phases, changes with
// field-level diffs, errors, drift), the 512 KiB size cap, the `reverts`
// link parsed from a commit message, and RevisionIndex, the controller's
// in-memory summary of the records in the store (which one is live, which
// is pending, which the history limit removes).
//
// Thread-safety: functions are pure; a RevisionIndex is a value with no
// locking of its own (the controller guards it).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/manifests.h"
#include "core/object.h"
#include "gitsync/mirror.h"
#include "reconciler/plan.h"
#include "state/client.h"

namespace bosun::reconciler {

inline constexpr const char* kCommitLabel = "bosun.dev/commit";
inline constexpr const char* kSequenceLabel = "bosun.dev/sequence";
// Set on a record in the same transaction as the objects of its apply (the
// batch's "update" keeps a record's status the way a plain PUT does, so the
// annotation is what proves the apply committed even when the status write
// that follows it did not happen).
inline constexpr const char* kAppliedAtAnnotation = "bosun.dev/applied-at";

// A record stays under this many bytes of JSON; objects, diffs, errors and
// drift entries are cut (status.truncated) to fit.
inline constexpr size_t kMaxRecordBytes = 512 * 1024;
// Room left in a new record for what is added while it is live (drift
// entries, links set by other controllers).
inline constexpr size_t kRecordReserveBytes = 48 * 1024;
// At most this many drift entries are kept in one record (newest kept).
inline constexpr size_t kMaxDriftEntries = 200;

namespace phase {
inline constexpr const char* kValidated = "Validated";
inline constexpr const char* kApplied = "Applied";
inline constexpr const char* kRefused = "Refused";
inline constexpr const char* kSkipped = "Skipped";
inline constexpr const char* kFailed = "Failed";
inline constexpr const char* kReverted = "Reverted";
inline constexpr const char* kSuperseded =
    "Superseded";  // applied; later commits rewrote all it rolled out before its verdict
inline constexpr const char* kProgressing = "Progressing";
inline constexpr const char* kHealthy = "Healthy";
inline constexpr const char* kDegraded = "Degraded";
}  // namespace phase

// Applied and every phase after it (Progressing, Healthy, Degraded,
// Reverted, Superseded): the record's objects reached the store.
bool IsAppliedPhase(const std::string& phase);

// A record revision health is not done with: Applied or Progressing (no
// verdict yet), or Degraded with neither a revert commit nor a later revert
// linked (one to make, or one left to a person). `status` is the record's.
bool Unsettled(const Json& status);

// "00000042".
std::string RevisionName(int64_t sequence);
// A record's name as `bosun history` numbers it: "00000042" → "42"; a name
// that is not a sequence number as it is.
std::string RevisionNumber(const std::string& name);
// The first 7 characters of a commit id, as `git log --oneline` shows it.
std::string ShortSha(const std::string& commit);
// A URL with any "user:password@" removed, for spec.source and the
// GitRepository (credentials never reach the store).
std::string RedactUrl(const std::string& url);

// A commit message as a record keeps it: at most kMaxRecordedMessageBytes
// (cut at a character, with a note of how much more there is). A message
// of megabytes would make the record too large to write, and the sync would
// stop at that commit.
inline constexpr size_t kMaxRecordedMessageBytes = 64 * 1024;
std::string RecordedMessage(const std::string& message);
// A commit message's first line, at most 200 bytes (a subject of megabytes
// is possible), for Events and lists.
std::string CommitSubject(const std::string& message);

struct RecordSource {
  std::string url;  // redacted
  std::string ref;
  std::string path;
};

// A new record: metadata (name, the commit and sequence labels) and spec
// from the commit (author, committer, message, signature presence, trigger,
// source, reverts). Its status is empty.
Object NewRevisionRecord(int64_t sequence, const gitsync::CommitInfo& commit, const std::string& trigger,
                         const RecordSource& source, const std::string& reverts);

// Appends {name, startedAt, durationMs} to status.phases.
void AddPhase(Object& record, const std::string& name, WallTime started, std::chrono::milliseconds duration);

// Sets status.phase, reason and message.
void SetPhase(Object& record, const std::string& phase, const std::string& reason, const std::string& message);

// Writes status.changes (exact counts) and status.objects (one entry per
// created / updated / deleted object, with its diff) so the whole record
// stays under `max_bytes`: diffs go first, then entries; then status.kept
// (objects that left the repository and stay, with why) and
// status.ignoredDifferences (fields the cluster owns whose live value differs
// from the repository's); status.truncated says whether anything was cut.
void SetChanges(Object& record, const Plan& plan, int extra_unchanged, size_t max_bytes);

// Writes status.errors (every error, as Diagnostic::ToString) and
// status.warnings, cut the same way when a repository has so many that the
// record would pass `max_bytes` (the last entry then says how many more).
void SetDiagnostics(Object& record, const std::vector<Diagnostic>& diagnostics, size_t max_bytes);

struct DriftEntry {
  const KindInfo* kind = nullptr;
  std::string ns;
  std::string name;
  WallTime detected_at;
  std::vector<std::string> fields;  // field paths that differ; empty when deleted
  bool deleted = false;             // the managed object was deleted
  bool healed = false;
  bool healed_on_request = false;  // by `bosun sync` (self-heal off), not by self-heal
  bool undone_by_hand = false;     // someone put it back as the revision has it
  bool replaced = false;           // healed by deleting and creating it again (force: an immutable field)
  std::string healed_by_revision;  // put back by the apply of a later revision (the record's name)
  WallTime healed_at;
  std::string error;  // why healing failed, when it did
};

// Adds a drift entry to status.drift. An unhealed entry for the same object
// is merged (fields united, healing applied) rather than repeated (an entry
// undone_by_hand only closes one: alone it is not added); past
// kMaxDriftEntries or the size cap the oldest entries are dropped and
// status.driftDropped counts them.
void AddDrift(Object& record, const DriftEntry& entry, size_t max_bytes = kMaxRecordBytes);

// Adds to a record's status.suspensions (`status`) the suspension that began at
// `suspended_at` (`bosun suspend`'s time) with `reason`, or, with
// `resumed_at`, closes it (adding it closed when it is not there). The
// newest kMaxSuspensionEntries are kept.
inline constexpr size_t kMaxSuspensionEntries = 50;
void AddSuspension(Json& status, const std::string& suspended_at, const std::string& reason,
                   const std::string& resumed_at);

// Reads Revision record `name` from the API, lets `change` change its status
// and writes it (the /status subresource), again on a conflict (`attempts`
// tries). The record written, or nullopt when `change` says there is
// nothing to write. The sync and revision health each keep what it returns
// in their own view of the records.
Result<std::optional<Object>> ChangeRecordStatus(state::Client& client, const std::string& name,
                                                 const std::function<bool(Json&)>& change, int attempts);

// The objects whose drift `record` holds open (its newest entry for the
// object is not healed), as Informer::Key; entries of kinds bosun does not
// know are left out. A leader that did not see the drift happen learns
// from these what may be put back by hand.
std::vector<std::string> OpenDriftKeys(const Object& record);

// What the controller needs to know about one record.
struct RecordInfo {
  std::string name;
  int64_t sequence = 0;
  std::string commit;
  std::string phase;
  std::string resource_version;
  size_t bytes = 0;             // JSON size
  bool applied_marker = false;  // carries kAppliedAtAnnotation
  // spec.source: what the record was read from. Records from before it was
  // recorded have none (has_source false).
  bool has_source = false;
  RecordSource source;
};
RecordInfo InfoOf(const Object& record);

// The records in the store, by sequence.
class RevisionIndex {
 public:
  void Clear() { by_seq_.clear(); }
  // Adds a record or replaces the one of the same sequence.
  void Put(const Object& record);
  void Put(const RecordInfo& info);
  void Remove(const std::string& name);

  int64_t NextSequence() const;
  size_t size() const { return by_seq_.size(); }
  // The live record: the newest one whose objects are in the store (an
  // applied phase, or Validated with the applied marker). nullptr when none.
  const RecordInfo* Live() const;
  // The newest record that is not Skipped (the last attempt).
  const RecordInfo* LastAttempt() const;
  // Records in Validated without the applied marker: started, not applied.
  std::vector<RecordInfo> Pending() const;
  // True when some record names this commit.
  bool HasCommit(const std::string& commit) const;
  // The newest record of a commit (a full id or a unique prefix), nullptr
  // when none.
  const RecordInfo* NewestOf(const std::string& commit) const;
  // The records the history limit removes, oldest first: while more than
  // `max_count` records (0: no count limit) or more than `max_bytes` bytes
  // remain. Records named in `keep` are never chosen. Skipped records do not
  // count against `max_count` (a push of 40 commits must not push 39 records
  // of what was applied out of the history); they go with the counted ones
  // older than them, and count in bytes.
  std::vector<std::string> OverLimit(size_t max_count, size_t max_bytes, const std::set<std::string>& keep) const;

  const std::map<int64_t, RecordInfo>& records() const { return by_seq_; }

 private:
  std::map<int64_t, RecordInfo> by_seq_;
};

}  // namespace bosun::reconciler
