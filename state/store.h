// state/store.h — the revisioned key-value store on RocksDB: the cluster's
// live truth (DESIGN.md §3). Only the state component touches it.
//
// Data model as etcd's:
//  * One cluster-wide revision, incremented by every committed transaction
//    (a batch of puts and deletes). Revision 0 means "nothing yet"; the first
//    transaction makes revision 1.
//  * Each key has create_revision (when it was last created), mod_revision
//    (when it was last written) and version (writes since it was created; a
//    delete resets it).
//  * Reads at the latest revision or at any revision not yet compacted.
//  * Deletes leave tombstones until compaction; Compact(R) forgets history
//    below R (reads and watches from a revision < R then fail with kCompacted).
//  * A transaction has preconditions (mod_revision equals N, must exist, must
//    not exist); if any fails nothing is written and the result says which.
//    A transaction whose preconditions hold but which writes nothing (only
//    deletes of absent keys) still succeeds, without a new revision.
//  * Each applied transaction is written in one RocksDB WriteBatch together
//    with the Raft index it came from. Applying an index at or below the
//    recorded applied index changes nothing and returns the recorded outcome
//    kind (success with the revision it made), so replay after a crash is
//    idempotent.
//  * Watch(prefix, from_revision) delivers every change to keys under prefix
//    with revision >= from_revision, in revision order, each exactly once,
//    first from history and then live; or fails with kCompacted.
//
// Keys are arbitrary byte strings; the API layer uses
// /registry/<group>/<resource>/<namespace>/<name>.
//
// Thread-safety: all methods are safe to call from any thread. Apply,
// Compact and Restore are serialised internally; reads see a consistent
// snapshot (a RocksDB snapshot at one revision).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace bosun::state {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
};

struct Precondition {
  enum class Kind { kModRevisionEquals, kMustExist, kMustNotExist };
  std::string key;
  Kind kind = Kind::kMustExist;
  int64_t mod_revision = 0;  // for kModRevisionEquals
};

struct Op {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;  // for kPut
};

struct Txn {
  std::vector<Precondition> preconditions;
  std::vector<Op> ops;
};

// Whether a store can apply `txn` at all: every key non-empty, each key
// written at most once. Store::Apply refuses any other; a replicated write
// checks before it proposes, since an entry no member can apply would stop
// every member at it, on every replay.
Status ValidateTxn(const Txn& txn);

// Encoding of a Txn for the Raft log (compact, versioned, binary).
std::string EncodeTxn(const Txn& txn);
Result<Txn> DecodeTxn(std::string_view bytes);

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;             // the store's revision after the txn
  std::string failed_key;           // the first precondition that failed
  std::optional<KeyValue> current;  // that key's current value, if it exists
  // For each op, the value it replaced (absent when the key did not exist).
  std::vector<std::optional<KeyValue>> prev;
};

// One transaction of Store::ApplyBatch and the Raft log index it came from.
struct IndexedTxn {
  Txn txn;
  uint64_t raft_index = 0;
};

std::string EncodeTxnResult(const TxnResult& r);
Result<TxnResult> DecodeTxnResult(std::string_view bytes);

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;                     // for kDelete: key, mod_revision = the delete's revision, empty value
  std::optional<KeyValue> prev;    // the value before this change, if any
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // the revision the range was read at
  bool more = false;     // true when limit cut the result short
};

// Receives watch events: a batch of events in revision order, or an error
// that ends the watch (kCompacted when the watcher fell behind a compaction,
// kUnavailable when the store was restored from a snapshot or closed). Called
// on a store-owned thread, never concurrently for one watch; it must not block
// for long (copy and hand off) and must not call back into the same handle.
using WatchCallback = std::function<void(Result<std::vector<Event>> batch)>;

class WatchHandle {
 public:
  virtual ~WatchHandle() = default;  // cancels the watch; no callback runs after it returns
};

struct StoreOptions {
  bool sync = true;  // fsync each write batch (off only in tests and benchmarks that say so)
};

class Store {
 public:
  virtual ~Store() = default;

  // Opens (creating if needed) the store in `dir`.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, const StoreOptions& options = {});

  // Applies a transaction from Raft log index `raft_index` (0: not from Raft,
  // as in tests and single-process use; never skipped).
  virtual Result<TxnResult> Apply(const Txn& txn, uint64_t raft_index) = 0;

  // Applies several transactions in order, exactly as Apply would one after
  // another (each its own revision, each seeing the writes of those before
  // it; an index at or below the applied index is skipped; a failed
  // precondition fails only its own transaction, whose index still counts as
  // applied), but in ONE RocksDB WriteBatch: one WAL write (and one fsync
  // when StoreOptions::sync) for all of them, m/applied being the last index.
  // A crash therefore leaves all of the batch or none of it, and replay from
  // the recorded applied index stays exactly-once. One result per
  // transaction, in order; an error (an invalid transaction, a failed write)
  // writes nothing of the batch.
  virtual Result<std::vector<TxnResult>> ApplyBatch(const std::vector<IndexedTxn>& txns) = 0;

  // The value of `key` at `revision` (0 = latest). NotFound if absent or
  // deleted at that revision; kCompacted if the revision is compacted; kInvalid
  // if it is in the future.
  virtual Result<KeyValue> Get(const std::string& key, int64_t revision = 0) const = 0;

  // Keys with `prefix`, in key order, starting after `start_after` (for
  // paging), at most `limit` (0 = no limit), at `revision` (0 = latest).
  virtual Result<RangeResult> Range(const std::string& prefix, int64_t revision = 0, size_t limit = 0,
                                    const std::string& start_after = "") const = 0;

  virtual Result<std::unique_ptr<WatchHandle>> Watch(const std::string& prefix, int64_t from_revision,
                                                     WatchCallback callback) = 0;

  virtual Status Compact(int64_t revision) = 0;

  virtual int64_t revision() const = 0;
  virtual int64_t compacted_revision() const = 0;
  virtual uint64_t applied_index() const = 0;

  // Makes every write so far durable (an fsync of RocksDB's write-ahead
  // log; table files are synced as RocksDB writes them). For a store opened
  // with sync off, before a Raft snapshot that names its applied index.
  virtual Status Sync() = 0;
  // A consistent copy of the whole store, as a RocksDB checkpoint in `dir`
  // (which must not exist), for Raft snapshots.
  virtual Status Checkpoint(const std::string& dir) const = 0;
  // Replaces the whole content with a checkpoint made by Checkpoint(). Active
  // watches end with kUnavailable (their owners re-watch from their revision).
  virtual Status Restore(const std::string& checkpoint_dir) = 0;
};

}  // namespace bosun::state
