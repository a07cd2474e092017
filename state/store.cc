// The revisioned store (state/store.h) on one RocksDB database.
//
// On-disk layout. Open(dir) keeps the database in <dir>/db (Restore swaps it
// with <dir>/db.restore; see store_maintenance.cc). All rows live in the
// default column family, so one WriteBatch covers everything an Apply changes
// and one checkpoint copies everything:
//
//   h/<escaped key>\0\x01<~revision BE64>  history row: one per key per revision
//       that wrote it. Value: 0x01 varint(create_revision) varint(version) <value>
//       for a put, 0x02 for a delete (a tombstone). mod_revision is the
//       revision in the row key. User keys are escaped (0x00 -> 0x00 0xff) so
//       that any byte string sorts in key order and "h/<escaped prefix>" covers
//       exactly the keys under the prefix (no bleed from /pods into /podsx).
//       The revision is stored inverted so a key's rows sort newest first: the
//       value at revision R is one Seek to <key part><~R>.
//   r/<revision BE64><op index BE32>  revision log row: one per change, in commit
//       order. Value: type (0x01 put, 0x02 delete) varint(prev_mod_revision,
//       0 if the key did not exist) <key>. Watches catch up by scanning it and
//       reading the values from the history rows, so values are stored once.
//   m/format "1", m/revision, m/compacted, m/applied (BE64 each)  meta rows.
//
// Apply writes the history rows, the log rows, m/revision and m/applied in one
// WriteBatch (synced when StoreOptions::sync). Reads take a RocksDB iterator,
// whose implicit snapshot makes a Range consistent; they need no lock but a
// shared one that only Restore takes exclusively. Compact(R) keeps every row
// at or above R plus, for each key, the newest row below R unless it is a
// tombstone: reads at R and later find their values, and the previous value of
// every change at or after R is still there for watches.
#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "state/store_internal.h"

namespace bosun::state {

namespace {
// One callback receives at most about this many events while catching up,
// and a chunk reads at most this many log rows before yielding to other watches.
constexpr size_t kHistoryChunkEvents = 1000;
constexpr size_t kHistoryChunkRows = 10000;
// Events a watcher may have waiting before it is ended as too slow.
constexpr size_t kWatchQueueLimit = 10000;
}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, const StoreOptions& options) {
  auto store = std::make_unique<internal::StoreImpl>(dir, options);
  if (Status s = store->OpenDb(); !s) return s.error();
  return std::unique_ptr<Store>(std::move(store));
}

namespace internal {

StoreImpl::StoreImpl(std::string dir, const StoreOptions& options) : dir_(std::move(dir)), options_(options) {
  write_options_.sync = options.sync;
  hub_ = std::make_shared<WatchHub>(
      [this](const std::string& prefix, int64_t from, int64_t to) { return ReadHistory(prefix, from, to); },
      kWatchQueueLimit);
}

StoreImpl::~StoreImpl() {
  // Watches end (their callbacks hear kUnavailable) before the database closes,
  // so a history read in flight on the notifier thread finishes first.
  hub_->Shutdown();
  std::unique_lock l(db_mu_);
  if (db_) db_->Close().PermitUncheckedError();
  db_.reset();
}

Error StoreImpl::Closed() const {
  return Error(Code::kUnavailable,
               "state store " + dir_ + " is closed after a failed restore; restart the process to reopen it");
}

Status StoreImpl::OpenDb() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Error(Code::kIo, "state store " + dir_ + ": cannot create directory: " + ec.message());
  if (Status s = FinishInterruptedRestore(dir_); !s) return s;
  return OpenRocks();
}

Status StoreImpl::OpenRocks() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.keep_log_file_num = 4;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status rs = rocksdb::DB::Open(o, DbPath(), &raw);
  if (!rs.ok()) return FromRocks(rs, "opening state store " + DbPath());
  db_.reset(raw);
  return LoadMeta();
}

Status StoreImpl::LoadMeta() {
  const std::string where = "state store " + DbPath();
  std::string format;
  rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), kMetaFormat, &format);
  if (rs.IsNotFound()) {
    // A new database is empty; anything else without our format row was not
    // written by bosun and is left alone.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (it->Valid()) return Error(Code::kInvalid, where + " holds data that bosun did not write; refusing to use it");
    if (!it->status().ok()) return FromRocks(it->status(), "reading " + where);
    rs = db_->Put(write_options_, kMetaFormat, kFormatVersion);
    if (!rs.ok()) return FromRocks(rs, "initialising " + where);
    format = kFormatVersion;
  } else if (!rs.ok()) {
    return FromRocks(rs, "reading " + where);
  }
  if (format != kFormatVersion) {
    return Error(Code::kInvalid, where + " has format version " + Printable(format) + "; this bosun reads version " +
                                     std::string(kFormatVersion));
  }
  auto read_meta = [&](std::string_view key, uint64_t* out) -> Status {
    std::string v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &v);
    if (s.IsNotFound()) {
      *out = 0;
      return Ok();
    }
    if (!s.ok()) return FromRocks(s, "reading " + where);
    if (v.size() != 8) return Error(Code::kIo, where + ": meta row " + std::string(key) + " is corrupt");
    *out = GetBE64(v);
    return Ok();
  };
  uint64_t rev = 0, compacted = 0, applied = 0;
  if (Status s = read_meta(kMetaRevision, &rev); !s) return s;
  if (Status s = read_meta(kMetaCompacted, &compacted); !s) return s;
  if (Status s = read_meta(kMetaApplied, &applied); !s) return s;
  revision_.store(static_cast<int64_t>(rev));
  compacted_.store(static_cast<int64_t>(compacted));
  applied_.store(applied);
  return Ok();
}

Result<int64_t> StoreImpl::ResolveRevision(int64_t revision, int64_t current) const {
  if (revision < 0) return Error(Code::kInvalid, "revision " + std::to_string(revision) + " is negative");
  if (revision == 0) revision = current;
  if (revision > current) {
    return Error(Code::kInvalid, "revision " + std::to_string(revision) +
                                     " is in the future (the store is at revision " + std::to_string(current) + ")");
  }
  int64_t compacted = compacted_.load();
  if (revision < compacted) {
    return Error(Code::kCompacted, "revision " + std::to_string(revision) +
                                       " has been compacted; the oldest revision still readable is " +
                                       std::to_string(compacted));
  }
  return revision;
}

Result<std::optional<KeyValue>> StoreImpl::ReadKey(rocksdb::Iterator* it, const std::string& key,
                                                   const std::string& key_part, int64_t revision) const {
  it->Seek(HistoryRowKey(key_part, revision));
  if (!it->Valid()) {
    if (!it->status().ok()) return FromRocks(it->status(), "reading key \"" + Printable(key) + "\"");
    return std::optional<KeyValue>();
  }
  std::string_view row_part;
  int64_t row_rev = 0;
  std::string_view row_key(it->key().data(), it->key().size());
  if (!ParseHistoryRowKey(row_key, &row_part, &row_rev) || row_part != key_part) return std::optional<KeyValue>();
  HistoryRow row;
  if (!DecodeHistoryRow(std::string_view(it->value().data(), it->value().size()), &row)) {
    return Error(Code::kIo, "state store row of key \"" + Printable(key) + "\" at revision " + std::to_string(row_rev) +
                                " is corrupt");
  }
  if (row.tombstone) return std::optional<KeyValue>();
  return std::optional<KeyValue>(KeyValue{key, std::move(row.value), row.create_revision, row_rev, row.version});
}

Result<TxnResult> StoreImpl::Apply(const Txn& txn, uint64_t raft_index) {
  const Txn* txns[] = {&txn};
  auto r = ApplyTxns(txns, &raft_index, 1);
  if (!r) return r.error();
  return std::move(r->front());
}

Result<std::vector<TxnResult>> StoreImpl::ApplyBatch(const std::vector<IndexedTxn>& batch) {
  std::vector<const Txn*> txns;
  std::vector<uint64_t> indexes;
  txns.reserve(batch.size());
  indexes.reserve(batch.size());
  for (const IndexedTxn& t : batch) {
    txns.push_back(&t.txn);
    indexes.push_back(t.raft_index);
  }
  return ApplyTxns(txns.data(), indexes.data(), batch.size());
}

// g++ 12 reports a false -Wmaybe-uninitialized when a TxnResult (with its
// std::optional member) moves into the Result's variant.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Every transaction reads the store as the ones before it in the batch left
// it: a key read or written earlier in the batch is taken from `known`
// (nullopt: absent or deleted), any other from the database at the revision
// the batch started from (one Seek, remembered: a create reads its key for
// the precondition and again for the op). Nothing is visible to readers,
// watches or revision() until the one WriteBatch is written.
Result<std::vector<TxnResult>> StoreImpl::ApplyTxns(const Txn* const* txns, const uint64_t* indexes, size_t n) {
  std::lock_guard apply(apply_mu_);  // Restore also holds it, so db_ is stable here
  if (!db_) return Closed();
  size_t batch_bytes = 64;
  for (size_t i = 0; i < n; ++i) {
    for (const Op& op : txns[i]->ops) batch_bytes += 2 * op.key.size() + op.value.size() + 64;
    if (Status s = ValidateTxn(*txns[i]); !s) {
      if (n == 1) return s.error();
      return s.error().Wrap("transaction " + std::to_string(i + 1) + " of " + std::to_string(n) + " (Raft index " +
                            std::to_string(indexes[i]) + ")");
    }
  }
  const int64_t base = revision_.load();
  int64_t rev = base;                  // the revision after the transactions so far
  uint64_t applied = applied_.load();  // the highest Raft index applied so far

  std::string upper = PrefixSuccessor(kHistoryPrefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  // A key read from the database, or the event that last wrote it in this
  // batch (so a value is not copied again for a key no later op reads).
  struct Known {
    std::optional<KeyValue> read;
    const Event* written = nullptr;
  };
  std::unordered_map<std::string, Known> known;
  auto read = [&](const std::string& key, const std::string& key_part) -> Result<std::optional<KeyValue>> {
    if (auto k = known.find(key); k != known.end()) {
      if (k->second.written == nullptr) return k->second.read;
      if (k->second.written->type == Event::Type::kDelete) return std::optional<KeyValue>();
      return std::optional<KeyValue>(k->second.written->kv);
    }
    auto kv = ReadKey(it.get(), key, key_part, base);
    if (kv) known.emplace(key, Known{*kv, nullptr});
    return kv;
  };

  std::vector<TxnResult> results(n);
  std::vector<std::shared_ptr<LiveBatch>> lives;
  // Sized up front: a first GitOps sync writes ~13 MB in one batch, and
  // growing it by doubling copied it over and over.
  rocksdb::WriteBatch batch(batch_bytes);
  for (size_t t = 0; t < n; ++t) {
    const Txn& txn = *txns[t];
    const uint64_t raft_index = indexes[t];
    TxnResult& result = results[t];
    result.revision = rev;
    if (raft_index != 0 && raft_index <= applied) {
      result.succeeded = true;  // already applied before: replay changes nothing
      continue;
    }
    if (raft_index != 0) applied = raft_index;  // also when a precondition fails: replay skips it too

    bool holds = true;
    for (const Precondition& pre : txn.preconditions) {
      auto cur = read(pre.key, HistoryKeyPart(pre.key));
      if (!cur) return cur.error();
      switch (pre.kind) {
        case Precondition::Kind::kMustExist:
          holds = cur->has_value();
          break;
        case Precondition::Kind::kMustNotExist:
          holds = !cur->has_value();
          break;
        case Precondition::Kind::kModRevisionEquals:
          holds = (cur->has_value() ? (*cur)->mod_revision : 0) == pre.mod_revision;
          break;
      }
      if (!holds) {
        result.failed_key = pre.key;
        result.current = std::move(*cur);
        break;
      }
    }
    if (!holds) continue;

    const int64_t next = rev + 1;
    auto live = std::make_shared<LiveBatch>();
    live->revision = next;
    live->events.reserve(txn.ops.size());  // `known` points at them: they must not move
    uint32_t index = 0;
    for (const Op& op : txn.ops) {
      std::string part = HistoryKeyPart(op.key);
      auto cur = read(op.key, part);
      if (!cur) return cur.error();
      result.prev.push_back(*cur);
      if (op.kind == Op::Kind::kDelete && !cur->has_value()) continue;  // deleting nothing writes nothing

      Event& ev = live->events.emplace_back();
      ev.kv.key = op.key;
      ev.kv.mod_revision = next;
      ev.prev = std::move(*cur);
      const std::string row_key = HistoryRowKey(part, next);
      if (op.kind == Op::Kind::kPut) {
        ev.type = Event::Type::kPut;
        ev.kv.create_revision = ev.prev ? ev.prev->create_revision : next;
        ev.kv.version = ev.prev ? ev.prev->version + 1 : 1;
        ev.kv.value = op.value;
        // The row is its header and the value, written without joining them.
        const std::string header = HistoryRowHeader(ev.kv.create_revision, ev.kv.version);
        const rocksdb::Slice key_slice(row_key);
        const rocksdb::Slice row[] = {header, op.value};
        batch.Put(rocksdb::SliceParts(&key_slice, 1), rocksdb::SliceParts(row, 2));
      } else {
        ev.type = Event::Type::kDelete;
        HistoryRow tombstone;
        tombstone.tombstone = true;
        batch.Put(row_key, EncodeHistoryRow(tombstone));
      }
      known[op.key] = Known{std::nullopt, &ev};
      batch.Put(LogRowKey(next, index++), EncodeLogRow(LogRow{ev.type, ev.prev ? ev.prev->mod_revision : 0, op.key}));
    }
    if (!live->events.empty()) {
      rev = next;
      lives.push_back(std::move(live));
    }
    result.succeeded = true;
    result.revision = rev;
  }
  it.reset();

  std::string v;
  if (rev != base) {
    PutBE64(&v, static_cast<uint64_t>(rev));
    batch.Put(kMetaRevision, v);
  }
  if (applied != applied_.load()) {
    v.clear();
    PutBE64(&v, applied);
    batch.Put(kMetaApplied, v);
  }
  if (batch.Count() > 0) {
    rocksdb::Status rs = db_->Write(write_options_, &batch);
    if (!rs.ok()) {
      return FromRocks(rs, "writing revision" + std::string(rev > base + 1 ? "s " + std::to_string(base + 1) + "-" : " ") +
                               std::to_string(rev) + " to state store " + DbPath());
    }
  }
  revision_.store(rev);
  applied_.store(applied);
  for (auto& live : lives) hub_->Publish(std::move(live));
  return results;
}
#pragma GCC diagnostic pop

Result<KeyValue> StoreImpl::Get(const std::string& key, int64_t revision) const {
  std::shared_lock l(db_mu_);
  if (!db_) return Closed();
  const int64_t current = revision_.load();  // before the iterator: it then sees at least this revision
  std::string part = HistoryKeyPart(key);
  std::string upper = PastKeyPart(part);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  auto rev = ResolveRevision(revision, current);
  if (!rev) return rev.error();
  auto kv = ReadKey(it.get(), key, part, *rev);
  if (!kv) return kv.error();
  if (!kv->has_value()) {
    return Error(Code::kNotFound, "key \"" + Printable(key) + "\" not found at revision " + std::to_string(*rev));
  }
  return std::move(**kv);
}

Result<RangeResult> StoreImpl::Range(const std::string& prefix, int64_t revision, size_t limit,
                                     const std::string& start_after) const {
  std::shared_lock l(db_mu_);
  if (!db_) return Closed();
  const int64_t current = revision_.load();
  const std::string lower = HistoryPrefix(prefix);
  const std::string upper = PrefixSuccessor(lower);
  std::string start = lower;
  if (!start_after.empty()) start = std::max(start, PastKeyPart(HistoryKeyPart(start_after)));
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  auto rev = ResolveRevision(revision, current);
  if (!rev) return rev.error();

  RangeResult out;
  out.revision = *rev;
  const std::string where = "reading range \"" + Printable(prefix) + "\"";
  it->Seek(start);
  while (it->Valid()) {
    std::string_view row_key(it->key().data(), it->key().size());
    std::string_view part_view;
    int64_t row_rev = 0;
    if (!ParseHistoryRowKey(row_key, &part_view, &row_rev)) {
      return Error(Code::kIo, where + ": malformed history row key \"" + Printable(row_key) + "\"");
    }
    std::string part(part_view);
    if (row_rev > *rev) {
      // Newer than the read: jump to this key's newest row at or below it
      // (or, when there is none, to the next key).
      it->Seek(HistoryRowKey(part, *rev));
      continue;
    }
    HistoryRow row;
    if (!DecodeHistoryRow(std::string_view(it->value().data(), it->value().size()), &row)) {
      return Error(Code::kIo, where + ": corrupt history row \"" + Printable(row_key) + "\"");
    }
    if (!row.tombstone) {
      if (limit != 0 && out.kvs.size() == limit) {
        out.more = true;
        break;
      }
      KeyValue kv;
      if (!UnescapeKeyPart(part, &kv.key)) {
        return Error(Code::kIo, where + ": malformed history row key \"" + Printable(row_key) + "\"");
      }
      kv.value = std::move(row.value);
      kv.create_revision = row.create_revision;
      kv.mod_revision = row_rev;
      kv.version = row.version;
      out.kvs.push_back(std::move(kv));
    }
    // On to the next key: usually the next row, otherwise one Seek past this key's older rows.
    it->Next();
    if (it->Valid() && std::string_view(it->key().data(), it->key().size()).substr(0, part.size()) == part) {
      it->Seek(PastKeyPart(part));
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), where);
  return out;
}

Result<std::unique_ptr<WatchHandle>> StoreImpl::Watch(const std::string& prefix, int64_t from_revision,
                                                      WatchCallback callback) {
  if (!callback) return Error(Code::kInvalid, "watch needs a callback");
  if (from_revision < 0) {
    return Error(Code::kInvalid, "cannot watch from revision " + std::to_string(from_revision) + ": it is negative");
  }
  // Under the apply lock no revision can commit between reading the current
  // revision and registering, so history and live delivery meet exactly.
  std::lock_guard apply(apply_mu_);
  if (!db_) return Closed();
  const int64_t current = revision_.load();
  const int64_t from = from_revision == 0 ? current + 1 : from_revision;
  const int64_t compacted = compacted_.load();
  if (from < compacted) {
    return Error(Code::kCompacted, "cannot watch from revision " + std::to_string(from) +
                                       ": it has been compacted (the oldest revision still available is " +
                                       std::to_string(compacted) + "); list again and watch from the list's revision");
  }
  return hub_->Add(prefix, from, current, std::move(callback));
}

Result<HistoryChunk> StoreImpl::ReadHistory(const std::string& prefix, int64_t from, int64_t to) const {
  std::shared_lock l(db_mu_);
  if (!db_) return Closed();
  ScopedSnapshot snapshot(db_.get());
  const int64_t compacted = compacted_.load();  // after the snapshot: see ResolveRevision
  if (from < compacted) {
    return Error(Code::kCompacted, "watch on \"" + Printable(prefix) + "\" needs revision " + std::to_string(from) +
                                       ", which has been compacted (the oldest revision still available is " +
                                       std::to_string(compacted) + "); list again and re-watch");
  }
  const std::string lower = LogRowKey(from, 0);
  const std::string upper = LogRowKey(to + 1, 0);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.get();
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));

  auto read_row = [&](const std::string& key, int64_t rev, HistoryRow* row) -> Status {
    std::string bytes;
    rocksdb::Status rs = db_->Get(ro, HistoryRowKey(HistoryKeyPart(key), rev), &bytes);
    const std::string what = "history row of key \"" + Printable(key) + "\" at revision " + std::to_string(rev);
    if (rs.IsNotFound()) return Error(Code::kIo, "state store is missing the " + what);
    if (!rs.ok()) return FromRocks(rs, "reading " + what);
    if (!DecodeHistoryRow(bytes, row) || row->tombstone != false) {
      return Error(Code::kIo, "state store " + what + " is corrupt");
    }
    return Ok();
  };

  HistoryChunk chunk;
  chunk.next = to + 1;
  size_t rows = 0;
  int64_t last_rev = 0;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    int64_t rev = 0;
    std::string_view row_key(it->key().data(), it->key().size());
    if (!ParseLogRowKey(row_key, &rev)) {
      return Error(Code::kIo, "state store revision log row \"" + Printable(row_key) + "\" is malformed");
    }
    if (rev != last_rev && (chunk.events.size() >= kHistoryChunkEvents || rows >= kHistoryChunkRows)) {
      chunk.next = rev;  // stop at a revision boundary; the rest comes in the next chunk
      return chunk;
    }
    last_rev = rev;
    ++rows;
    LogRow log;
    if (!DecodeLogRow(std::string_view(it->value().data(), it->value().size()), &log)) {
      return Error(Code::kIo, "state store revision log row at revision " + std::to_string(rev) + " is corrupt");
    }
    if (log.key.compare(0, prefix.size(), prefix) != 0) continue;
    Event ev;
    ev.type = log.type;
    ev.kv.key = log.key;
    ev.kv.mod_revision = rev;
    if (log.type == Event::Type::kPut) {
      HistoryRow row;
      if (Status s = read_row(log.key, rev, &row); !s) return s.error();
      ev.kv.value = std::move(row.value);
      ev.kv.create_revision = row.create_revision;
      ev.kv.version = row.version;
    }
    if (log.prev_mod_revision != 0) {
      HistoryRow row;
      if (Status s = read_row(log.key, log.prev_mod_revision, &row); !s) return s.error();
      ev.prev = KeyValue{log.key, std::move(row.value), row.create_revision, log.prev_mod_revision, row.version};
    }
    chunk.events.push_back(std::move(ev));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the revision log for a watch");
  return chunk;
}

}  // namespace internal

Status ValidateTxn(const Txn& txn) {
  for (size_t i = 0; i < txn.preconditions.size(); ++i) {
    if (txn.preconditions[i].key.empty()) {
      return Error(Code::kInvalid, "precondition " + std::to_string(i) + ": key is empty");
    }
  }
  std::unordered_map<std::string_view, size_t> seen;
  for (size_t i = 0; i < txn.ops.size(); ++i) {
    const Op& op = txn.ops[i];
    if (op.key.empty()) return Error(Code::kInvalid, "op " + std::to_string(i) + ": key is empty");
    auto [at, inserted] = seen.emplace(op.key, i);
    if (!inserted) {
      return Error(Code::kInvalid, "op " + std::to_string(i) + ": key \"" + internal::Printable(op.key) +
                                       "\" is also written by op " + std::to_string(at->second) +
                                       "; a transaction writes each key at most once");
    }
  }
  return Ok();
}

}  // namespace bosun::state
