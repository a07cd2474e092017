// Compaction, checkpoints and restore of the store (see store.cc for the layout).
//
// Restore protocol, so that a crash at any point leaves one whole database:
//   1. copy the checkpoint into <dir>/db.restore-partial and open it once
//      (which checks it and replays its WAL), then fsync;
//   2. rename it to <dir>/db.restore: from here on the restore is decided;
//   3. rename <dir>/db to <dir>/db.old, <dir>/db.restore to <dir>/db;
//   4. remove <dir>/db.old.
// FinishInterruptedRestore (run by Open and by Restore itself) drops a partial
// copy, completes steps 3 and 4 when a db.restore exists, and removes db.old.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include <fcntl.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include "state/store_internal.h"

namespace bosun::state::internal {

namespace fs = std::filesystem;

namespace {

// A key with more old rows than this has them removed by one DeleteRange
// instead of point deletes (many range tombstones would slow reads down).
constexpr size_t kPointDeletesPerKey = 16;

Status Fsync(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(Code::kIo, "opening " + path + " to sync it: " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Error(Code::kIo, "syncing " + path + ": " + std::strerror(err));
  return Ok();
}

Status RemoveAll(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return Error(Code::kIo, "removing " + path + ": " + ec.message());
  return Ok();
}

Status Rename(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) return Error(Code::kIo, "renaming " + from + " to " + to + ": " + ec.message());
  return Ok();
}

// Copies the flat directory of a RocksDB checkpoint. Table files never change
// once written, so they are hard-linked when the file system allows it.
Status CopyCheckpoint(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directory(to, ec);
  if (ec) return Error(Code::kIo, "creating " + to + ": " + ec.message());
  for (fs::directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& src = it->path();
    if (!it->is_regular_file(ec)) {
      return Error(Code::kInvalid, "checkpoint " + from + " contains " + src.filename().string() +
                                       ", which is not a file; it is not a checkpoint made by Checkpoint()");
    }
    const std::string dst = to + "/" + src.filename().string();
    std::error_code link_ec;
    if (src.extension() != ".sst" || (fs::create_hard_link(src, dst, link_ec), link_ec)) {
      fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
      if (ec) return Error(Code::kIo, "copying " + src.string() + " to " + dst + ": " + ec.message());
    }
    if (Status s = Fsync(dst, false); !s) return s;
  }
  if (ec) return Error(Code::kIo, "reading checkpoint " + from + ": " + ec.message());
  return Fsync(to, true);
}

// Opens a copied checkpoint once: RocksDB checks its files and replays its
// WAL, and the format row says whether bosun wrote it.
Status CheckCopy(const std::string& path, const std::string& checkpoint_dir) {
  rocksdb::Options o;
  o.create_if_missing = false;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status rs = rocksdb::DB::Open(o, path, &raw);
  if (!rs.ok()) return FromRocks(rs, "checkpoint " + checkpoint_dir + " is not a usable state store");
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string format;
  rs = db->Get(rocksdb::ReadOptions(), kMetaFormat, &format);
  Status result = Ok();
  if (rs.IsNotFound()) {
    result = Error(Code::kInvalid, "checkpoint " + checkpoint_dir + " was not made by a bosun state store");
  } else if (!rs.ok()) {
    result = FromRocks(rs, "reading checkpoint " + checkpoint_dir);
  } else if (format != kFormatVersion) {
    result = Error(Code::kInvalid, "checkpoint " + checkpoint_dir + " has format version " + Printable(format) +
                                       "; this bosun reads version " + std::string(kFormatVersion));
  }
  rs = db->Close();
  if (result.ok() && !rs.ok()) result = FromRocks(rs, "closing checkpoint copy " + path);
  return result;
}

}  // namespace

Status FinishInterruptedRestore(const std::string& dir) {
  const std::string db = dir + "/db", ready = dir + "/db.restore", old = dir + "/db.old";
  if (Status s = RemoveAll(dir + "/db.restore-partial"); !s) return s;
  if (fs::exists(ready)) {
    if (fs::exists(db)) {
      if (Status s = RemoveAll(old); !s) return s;
      if (Status s = Rename(db, old); !s) return s;
    }
    if (Status s = Rename(ready, db); !s) return s;
    if (Status s = Fsync(dir, true); !s) return s;
  }
  return RemoveAll(old);
}

Status StoreImpl::Compact(int64_t revision) {
  std::lock_guard compact(compact_mu_);  // Restore also holds it, so db_ is stable here
  if (!db_) return Closed();
  const int64_t old = compacted_.load();
  if (revision <= old) return Ok();  // already compacted that far (replay is harmless)
  if (revision > revision_.load()) {
    return Error(Code::kInvalid, "cannot compact to revision " + std::to_string(revision) +
                                     ": the store is only at revision " + std::to_string(revision_.load()));
  }
  const std::string where = "compacting state store " + DbPath() + " to revision " + std::to_string(revision);

  // Rows below `revision` that nothing will read again. Concurrent Applies
  // only add rows above it, so the plan made on this snapshot stays right.
  rocksdb::WriteBatch batch;
  {
    ScopedSnapshot snapshot(db_.get());
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot.get();
    std::set<std::string> key_parts;  // keys written since the last compaction: only they can have old rows
    {
      std::string upper = LogRowKey(revision, 0);
      rocksdb::Slice upper_slice(upper);
      rocksdb::ReadOptions log_ro = ro;
      log_ro.iterate_upper_bound = &upper_slice;
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(log_ro));
      for (it->Seek(LogRowKey(old, 0)); it->Valid(); it->Next()) {
        LogRow log;
        if (!DecodeLogRow(std::string_view(it->value().data(), it->value().size()), &log)) {
          return Error(Code::kIo, where + ": corrupt revision log row");
        }
        key_parts.insert(HistoryKeyPart(log.key));
      }
      if (!it->status().ok()) return FromRocks(it->status(), where);
    }
    std::string upper = PrefixSuccessor(kHistoryPrefix);
    rocksdb::Slice upper_slice(upper);
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    auto same_key = [&](const std::string& part) {
      return it->Valid() && std::string_view(it->key().data(), it->key().size()).substr(0, part.size()) == part;
    };
    for (const std::string& part : key_parts) {
      // The newest row below `revision` stays unless it is a tombstone; every
      // older row goes.
      it->Seek(HistoryRowKey(part, revision - 1));
      if (!same_key(part)) continue;
      HistoryRow row;
      if (!DecodeHistoryRow(std::string_view(it->value().data(), it->value().size()), &row)) {
        return Error(Code::kIo, where + ": corrupt history row");
      }
      if (!row.tombstone) it->Next();
      if (!same_key(part)) continue;
      const std::string first(it->key().data(), it->key().size());
      std::vector<std::string> doomed;
      for (; same_key(part) && doomed.size() <= kPointDeletesPerKey; it->Next()) {
        doomed.emplace_back(it->key().data(), it->key().size());
      }
      if (doomed.size() > kPointDeletesPerKey) {
        batch.DeleteRange(first, PastKeyPart(part));
      } else {
        for (const std::string& k : doomed) batch.Delete(k);
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), where);
  }
  batch.DeleteRange(LogRowKey(0, 0), LogRowKey(revision, 0));
  std::string v;
  PutBE64(&v, static_cast<uint64_t>(revision));
  batch.Put(kMetaCompacted, v);

  {
    // Readers and watch registration see the new floor before any row goes.
    std::lock_guard apply(apply_mu_);
    compacted_.store(revision);
    hub_->EndCompacted(revision);
  }
  rocksdb::Status rs = db_->Write(write_options_, &batch);
  if (!rs.ok()) {
    compacted_.store(old);  // nothing was deleted
    return FromRocks(rs, where);
  }
  return Ok();
}

Status StoreImpl::Sync() {
  std::shared_lock l(db_mu_);
  if (!db_) return Closed();
  // Every write so far is in a WAL file or an SST RocksDB has synced: one
  // column family, the WAL on (no disableWAL) and manual_wal_flush off, so
  // SyncWAL syncs every write made before it, in the live WAL files too.
  rocksdb::Status rs = db_->SyncWAL();
  if (!rs.ok()) return FromRocks(rs, "syncing state store " + DbPath());
  return Ok();
}

Status StoreImpl::Checkpoint(const std::string& dir) const {
  std::shared_lock l(db_mu_);
  if (!db_) return Closed();
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return Error(Code::kAlreadyExists, "checkpoint directory " + dir + " already exists; Checkpoint creates a new one");
  }
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status rs = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!rs.ok()) return FromRocks(rs, "preparing a checkpoint of state store " + DbPath());
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  rs = cp->CreateCheckpoint(dir);
  if (!rs.ok()) return FromRocks(rs, "writing a checkpoint of state store " + DbPath() + " to " + dir);
  return Ok();
}

Status StoreImpl::Restore(const std::string& checkpoint_dir) {
  std::lock_guard compact(compact_mu_);
  std::lock_guard apply(apply_mu_);
  std::error_code ec;
  if (!fs::is_directory(checkpoint_dir, ec)) {
    return Error(Code::kNotFound, "checkpoint directory " + checkpoint_dir + " does not exist");
  }
  const std::string partial = dir_ + "/db.restore-partial", ready = dir_ + "/db.restore";
  if (Status s = RemoveAll(partial); !s) return s;
  if (Status s = RemoveAll(ready); !s) return s;

  // Steps 1 and 2: the current database is untouched until the copy is whole
  // and known good; a bad checkpoint is refused here and loses nothing.
  Status s = CopyCheckpoint(checkpoint_dir, partial);
  if (s) s = CheckCopy(partial, checkpoint_dir);
  if (s) s = Rename(partial, ready);
  if (s) s = Fsync(dir_, true);
  if (!s) {
    RemoveAll(partial).ok();
    RemoveAll(ready).ok();
    return s.error().Wrap("restoring state store " + DbPath());
  }

  hub_->EndAll(Code::kUnavailable, "the state store was restored from a snapshot");
  std::unique_lock exclusive(db_mu_);
  if (db_) {
    rocksdb::Status rs = db_->Close();
    db_.reset();
    if (!rs.ok()) return FromRocks(rs, "closing state store " + DbPath() + " for a restore");
  }
  // Steps 3 and 4; on failure db_ stays null and the store reports itself
  // closed. Open completes the swap after a restart.
  if (Status f = FinishInterruptedRestore(dir_); !f) return f.error().Wrap("restoring state store " + DbPath());
  if (Status o = OpenRocks(); !o) {
    db_.reset();
    return o.error().Wrap("reopening state store " + DbPath() + " after a restore");
  }
  return Ok();
}

}  // namespace bosun::state::internal
