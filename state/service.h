// state/service.h — the state service as the API server sees it: reads and
// writes of the revisioned store, replicated (or not), plus who leads.
//
// Two implementations:
//  * ReplicatedService (state/replicated_service.h): the product. Writes go
//    through the Replicator (Raft) and are acknowledged after a majority has
//    them and the local store applied them; linearizable reads wait on a
//    batched Raft barrier. Used by `bosun server` and `bosun up` (one member).
//  * LocalService (below): the store alone, no consensus. For unit tests of
//    the layers above, and tools that open a store offline.
//
// Thread-safety: every method may be called from any thread. Callbacks run on
// an internal thread and must not block.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/result.h"
#include "state/store.h"

namespace bosun::state {

enum class ReadConsistency {
  kLinearizable,  // reflects every write acknowledged before the read began
  kSerializable,  // this member's latest applied state; cheap, may lag
};

struct MemberInfo {
  uint64_t id = 0;
  std::string raft_address;
  std::string api_url;   // "http://127.0.0.1:8001"
  std::string role;      // "leader", "follower", ...
  bool is_leader = false;
  bool is_self = false;
  uint64_t applied_index = 0;  // known only for self
  // What the member published about its settings beyond its addresses, a
  // JSON object ({"encryptionKeyId": "…", "gitops": {url, ref, path,
  // verifyCommits} or null without --repo}); "" when it published none.
  std::string settings;
};

// Copies the settings a member publishes ("encryptionKeyId", "gitops") from
// `settings` (a JSON object's text, as MemberInfo::settings holds it) into
// `item`; nothing else, nothing when it is not such an object. Defined in
// replicated_service.cc.
void AddMemberSettings(const std::string& settings, nlohmann::json* item);

class StateService {
 public:
  virtual ~StateService() = default;

  // Commits a transaction. kUnavailable (with the leader's API URL in the
  // message) when this member cannot accept writes; callers that are HTTP
  // handlers forward to LeaderApiUrl() or answer 503 with it.
  virtual void Write(Txn txn, std::function<void(Result<TxnResult>)> done) = 0;
  Result<TxnResult> WriteSync(Txn txn);

  // Calls `done` when a read at the given consistency may proceed here.
  virtual void ReadBarrier(ReadConsistency c, std::function<void(Status)> done) = 0;
  Status ReadBarrierSync(ReadConsistency c);

  // The local store, for reads after ReadBarrier and for watches.
  virtual Store& store() = 0;

  virtual bool IsLeader() const = 0;
  // The leader's API URL when another member leads; nullopt when this member
  // leads or no leader is known.
  virtual std::optional<std::string> LeaderApiUrl() const = 0;
  virtual std::vector<MemberInfo> Members() const = 0;
};

// The store without replication: every member is "the leader".
class LocalService final : public StateService {
 public:
  explicit LocalService(std::unique_ptr<Store> store);
  void Write(Txn txn, std::function<void(Result<TxnResult>)> done) override;
  void ReadBarrier(ReadConsistency c, std::function<void(Status)> done) override;
  Store& store() override { return *store_; }
  bool IsLeader() const override { return true; }
  std::optional<std::string> LeaderApiUrl() const override { return std::nullopt; }
  std::vector<MemberInfo> Members() const override;

 private:
  std::unique_ptr<Store> store_;
};

}  // namespace bosun::state
