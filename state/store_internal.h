// state/store_internal.h — private to the store (store*.cc, txn_codec.cc): the
// byte encodings it writes to disk and the implementation classes behind
// state/store.h. The on-disk layout is described at the top of store.cc.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/status.h>

#include "core/result.h"
#include "state/store.h"

namespace bosun::state::internal {

// ---- Primitive encodings (shared with txn_codec.cc) ----

void PutBE64(std::string* out, uint64_t v);
void PutBE32(std::string* out, uint32_t v);
uint64_t GetBE64(std::string_view eight_bytes);  // requires size() >= 8
uint32_t GetBE32(std::string_view four_bytes);   // requires size() >= 4

// LEB128 varints. GetVarint consumes from *in; false on truncation or a value
// longer than 64 bits.
void PutVarint(std::string* out, uint64_t v);
bool GetVarint(std::string_view* in, uint64_t* v);
// Signed values travel zig-zag encoded so small negatives stay small.
inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}
// Length-prefixed bytes. GetBytes never reads past *in: a length larger than
// what remains is refused before anything is allocated.
void PutBytes(std::string* out, std::string_view bytes);
bool GetBytes(std::string_view* in, std::string_view* bytes);

// A key as a person can read it in an error message: printable ASCII as is,
// other bytes as \xNN, cut after 200 characters.
std::string Printable(std::string_view key);

// ---- Store keys and rows ----

inline constexpr std::string_view kHistoryPrefix = "h/";
inline constexpr std::string_view kLogPrefix = "r/";
inline constexpr std::string_view kMetaFormat = "m/format";
inline constexpr std::string_view kMetaRevision = "m/revision";
inline constexpr std::string_view kMetaCompacted = "m/compacted";
inline constexpr std::string_view kMetaApplied = "m/applied";
inline constexpr std::string_view kFormatVersion = "1";

// "h/" + escaped user key, no terminator: every history row of every key that
// starts with `prefix` starts with this, and no other row does.
std::string HistoryPrefix(std::string_view prefix);
// "h/" + escaped key + "\0\x01": the part all rows of exactly `key` share.
std::string HistoryKeyPart(std::string_view key);
// A key part followed by the revision inverted, so a key's rows sort newest first.
std::string HistoryRowKey(std::string_view key_part, int64_t revision);
// Sorts after every row of the key part and before the next key's rows.
std::string PastKeyPart(std::string_view key_part);
// Splits a history row key into its key part and revision; false if malformed.
bool ParseHistoryRowKey(std::string_view row_key, std::string_view* key_part, int64_t* revision);
// The user key of a key part; false if the escaping is malformed.
bool UnescapeKeyPart(std::string_view key_part, std::string* key);
// The smallest string greater than every string starting with `s` ("" if none).
std::string PrefixSuccessor(std::string_view s);

struct HistoryRow {
  bool tombstone = false;
  int64_t create_revision = 0;
  int64_t version = 0;
  std::string value;
};
std::string EncodeHistoryRow(const HistoryRow& row);
// A live row's bytes before its value: EncodeHistoryRow is this plus the
// value (the store's apply writes the two parts without joining them).
std::string HistoryRowHeader(int64_t create_revision, int64_t version);
bool DecodeHistoryRow(std::string_view bytes, HistoryRow* row);

std::string LogRowKey(int64_t revision, uint32_t index);
bool ParseLogRowKey(std::string_view row_key, int64_t* revision);

struct LogRow {
  Event::Type type = Event::Type::kPut;
  int64_t prev_mod_revision = 0;  // 0: the key did not exist before this change
  std::string key;
};
std::string EncodeLogRow(const LogRow& row);
bool DecodeLogRow(std::string_view bytes, LogRow* row);

// A RocksDB snapshot released on scope exit. Declare it before the iterators
// that read through it.
class ScopedSnapshot {
 public:
  explicit ScopedSnapshot(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~ScopedSnapshot() { db_->ReleaseSnapshot(snapshot_); }
  ScopedSnapshot(const ScopedSnapshot&) = delete;
  ScopedSnapshot& operator=(const ScopedSnapshot&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

// Every rocksdb::Status becomes an Error here: `what` says what was being done.
Error FromRocks(const rocksdb::Status& s, const std::string& what);

// Completes or cleans up a Restore that a crash interrupted, so that
// <dir>/db is whole (store_maintenance.cc has the protocol).
Status FinishInterruptedRestore(const std::string& dir);

// ---- Watches ----

// The events one committed transaction produced, shared by every watcher's queue.
struct LiveBatch {
  int64_t revision = 0;
  std::vector<Event> events;
};

// A piece of watch history read from the revision log.
struct HistoryChunk {
  std::vector<Event> events;  // in revision order, only keys under the prefix
  int64_t next = 0;           // the first revision not read yet
};

struct Watcher;

// The registry of watches and the one notifier thread that calls their
// callbacks. Apply publishes each committed batch under the store's apply lock,
// which is also the lock Watch registers under, so every watcher sees each
// revision either from history (revisions <= history_until) or live, never
// both and never neither. Delivery is queued per watcher; a watcher whose queue
// grows past `queue_limit` events is ended instead of slowing Apply down.
class WatchHub : public std::enable_shared_from_this<WatchHub> {
 public:
  using ReadHistory = std::function<Result<HistoryChunk>(const std::string& prefix, int64_t from, int64_t to)>;

  WatchHub(ReadHistory read_history, size_t queue_limit);
  ~WatchHub();  // Shutdown() first

  // Registers a watch that starts at `from` and reads revisions up to
  // `history_until` from the revision log.
  std::unique_ptr<WatchHandle> Add(std::string prefix, int64_t from, int64_t history_until, WatchCallback callback);
  void Publish(std::shared_ptr<const LiveBatch> batch);
  // Ends every watch with `code`, the message being `reason` plus where to re-watch from.
  void EndAll(Code code, const std::string& reason);
  // Ends watches that still have to read revisions below `compacted` from history.
  void EndCompacted(int64_t compacted);
  // Ends every watch with kUnavailable, delivers the errors and stops the thread.
  void Shutdown();

  void Cancel(const std::shared_ptr<Watcher>& w);

 private:
  void Run();
  void Schedule(const std::shared_ptr<Watcher>& w);
  void EndLocked(const std::shared_ptr<Watcher>& w, Error e);
  void Deliver(std::unique_lock<std::mutex>& l, const std::shared_ptr<Watcher>& w, Result<std::vector<Event>> batch);

  const ReadHistory read_history_;
  const size_t queue_limit_;

  std::mutex mu_;
  std::condition_variable work_cv_;                        // ready_ or stop_ changed
  std::condition_variable callback_cv_;                    // in_callback_ changed
  std::map<uint64_t, std::shared_ptr<Watcher>> watchers_;  // active: live batches go to these
  std::deque<std::shared_ptr<Watcher>> ready_;             // watchers with something to do
  Watcher* in_callback_ = nullptr;
  uint64_t next_id_ = 1;
  bool stop_ = false;
  // Set when the store is destroyed from a watch callback: the thread cannot
  // join itself, so it is detached and keeps the hub alive until it ends.
  std::shared_ptr<WatchHub> keep_alive_;

  std::thread thread_;
  std::thread::id thread_id_;
};

// ---- The store ----

class StoreImpl final : public Store {
 public:
  StoreImpl(std::string dir, const StoreOptions& options);
  ~StoreImpl() override;

  // Creates dir_ if needed, finishes an interrupted Restore, opens the database.
  Status OpenDb();

  Result<TxnResult> Apply(const Txn& txn, uint64_t raft_index) override;
  Result<std::vector<TxnResult>> ApplyBatch(const std::vector<IndexedTxn>& txns) override;
  Result<KeyValue> Get(const std::string& key, int64_t revision) const override;
  Result<RangeResult> Range(const std::string& prefix, int64_t revision, size_t limit,
                            const std::string& start_after) const override;
  Result<std::unique_ptr<WatchHandle>> Watch(const std::string& prefix, int64_t from_revision,
                                             WatchCallback callback) override;
  Status Compact(int64_t revision) override;
  int64_t revision() const override { return revision_.load(); }
  int64_t compacted_revision() const override { return compacted_.load(); }
  uint64_t applied_index() const override { return applied_.load(); }
  Status Sync() override;
  Status Checkpoint(const std::string& dir) const override;
  Status Restore(const std::string& checkpoint_dir) override;

  // Reads the revision log for a watch (called on the notifier thread).
  Result<HistoryChunk> ReadHistory(const std::string& prefix, int64_t from, int64_t to) const;

 private:
  std::string DbPath() const { return dir_ + "/db"; }
  Error Closed() const;
  // Opens <dir_>/db into db_ and loads its meta rows.
  Status OpenRocks();
  // Reads the meta rows of db_ into the atomics below.
  Status LoadMeta();
  // Checks `revision` (0 = latest) against the current and compacted
  // revisions; call after the iterator or snapshot of the read is taken.
  Result<int64_t> ResolveRevision(int64_t revision, int64_t current) const;
  // The newest row of the key part at or below `revision`, if not a tombstone.
  Result<std::optional<KeyValue>> ReadKey(rocksdb::Iterator* it, const std::string& key, const std::string& key_part,
                                          int64_t revision) const;
  // Apply and ApplyBatch: the n transactions txns[i] from Raft indexes
  // indexes[i], in one WriteBatch (store.cc).
  Result<std::vector<TxnResult>> ApplyTxns(const Txn* const* txns, const uint64_t* indexes, size_t n);

  const std::string dir_;
  const StoreOptions options_;
  rocksdb::WriteOptions write_options_;

  // Lock order: compact_mu_, apply_mu_, db_mu_, then the hub's own lock.
  std::mutex compact_mu_;            // one Compact or Restore at a time
  std::mutex apply_mu_;              // Apply, Watch registration, Restore
  mutable std::shared_mutex db_mu_;  // readers share; Restore swaps db_ exclusively
  std::unique_ptr<rocksdb::DB> db_;  // null after a failed Restore

  std::atomic<int64_t> revision_{0};
  std::atomic<int64_t> compacted_{0};
  std::atomic<uint64_t> applied_{0};

  std::shared_ptr<WatchHub> hub_;
};

}  // namespace bosun::state::internal
