// state/replicated_service.h — the product's StateService: a RocksDB Store
// replicated by a Replicator (Raft).
//
// It owns the store and the replicator. The store is the replicator's state
// machine: every committed command is a Txn (EncodeTxn) applied with its Raft
// index, so replay after a crash is idempotent; snapshots are RocksDB
// checkpoints packed into one buffer. The store does not fsync its own writes
// (the Raft log is the durable record; after a crash the tail is replayed).
//
// Each member's API URL is kept in the replicated store under
// /bosun/members/<id>, so any member can tell a client where the leader is.
//
// Thread-safety: as StateService.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "state/replicator.h"
#include "state/service.h"
#include "state/store.h"

namespace bosun::state {

struct ReplicatedServiceOptions {
  std::string data_dir;      // store in <data_dir>/store, Raft in <data_dir>/raft
  ReplicatorOptions raft;    // raft.dir is set from data_dir when empty
  std::string api_url;       // this member's API URL, published to the others
  // API URLs of the bootstrap peers by id (from `--peers`), used until the
  // replicated registry has them.
  std::map<uint64_t, std::string> peer_api_urls;
  // This member's settings that the others must share, published with its
  // API URL (a JSON object; MemberInfo::settings).
  std::string settings;
};

class ReplicatedService final : public StateService, private StateMachine {
 public:
  static Result<std::unique_ptr<ReplicatedService>> Start(const ReplicatedServiceOptions& options);
  ~ReplicatedService() override;

  void Write(Txn txn, std::function<void(Result<TxnResult>)> done) override;
  void ReadBarrier(ReadConsistency c, std::function<void(Status)> done) override;
  Store& store() override { return *store_; }
  bool IsLeader() const override;
  std::optional<std::string> LeaderApiUrl() const override;
  std::vector<MemberInfo> Members() const override;

  Replicator& replicator() { return *replicator_; }
  // Publishes this member's API URL in the registry. Works on the leader
  // only (kUnavailable elsewhere): a follower sends its record to the leader
  // instead (cli/control_plane.cc).
  Status PublishSelf();
  void Stop();

 private:
  explicit ReplicatedService(ReplicatedServiceOptions options);

  // StateMachine
  Result<std::string> Apply(uint64_t index, std::string_view command) override;
  // The commands of one loop turn in one Store::ApplyBatch: one RocksDB write.
  Result<std::vector<std::string>> ApplyBatch(const std::vector<CommittedCommand>& commands) override;
  uint64_t AppliedIndex() const override;
  Result<std::string> TakeSnapshot() override;
  Status RestoreSnapshot(std::string_view snapshot) override;
  // A RocksDB checkpoint is consistent while writes go on, and the store skips
  // replayed indexes it already holds, so snapshots run beside Apply.
  bool SnapshotsConcurrentWithApply() const override { return true; }
  // The store records m/applied with each batch: Raft snapshots are references
  // made by syncing it, and the whole store is packed only to send a member.
  bool StateIsDurable() const override { return true; }
  Status MakeDurable() override;

  std::string ApiUrlOf(uint64_t id) const;

  ReplicatedServiceOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Replicator> replicator_;
};

// Packs a directory of regular files (a RocksDB checkpoint) into one buffer
// and back. The format is private to snapshots: a magic, then per file its
// name, size and bytes.
Result<std::string> PackDirectory(const std::string& dir);
Status UnpackDirectory(std::string_view packed, const std::string& dir);

// The registry entry that publishes member `id`'s API URL to the others, and
// its value (what PublishSelf writes; a follower asks the leader to write it
// through PUT /bosun/v1/members/ID, cli/member_routes.h).
std::string MemberRecordKey(uint64_t id);
// `settings` is a JSON object whose fields go into the record beside the
// addresses ("" for none).
std::string MemberRecord(uint64_t id, const std::string& raft_address, const std::string& api_url,
                         const std::string& settings = "");
// The settings part of a record (its fields but id, raftAddress, apiUrl) as
// a JSON object, or "" when it has none.
std::string MemberSettingsOf(const std::string& record);

}  // namespace bosun::state
