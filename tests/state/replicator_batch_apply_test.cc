// Batch apply (state/replicator_internal.h): the entries libraft commits in
// one loop turn reach the store in ONE Store::ApplyBatch, i.e. one RocksDB
// write. Through the product's ReplicatedService (a real replicator on TCP
// and the real RocksDB store), these tests check what a writer relies on:
//  * concurrent writes are applied in fewer store writes than transactions,
//    and still each gets its own result: a failed precondition fails only
//    its own transaction, never a neighbour in the same batch;
//  * a store that lost the tail of its (unsynced) writes in a crash, here
//    cut back to a checkpoint taken while writes were flowing, is replayed
//    from the Raft log at restart exactly once: every acknowledged write is
//    there, none twice;
//  * a linearizable read after a barrier (3 members) sees every write
//    acknowledged before it.
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "state/replicated_service.h"
#include "tests/state/replicator_test_util.h"

namespace bosun::state {
namespace {

using namespace std::chrono_literals;
using namespace replicator_test;

Txn CreateTxn(const std::string& key, const std::string& value) {
  Txn t;
  t.preconditions.push_back({key, Precondition::Kind::kMustNotExist, 0});
  t.ops.push_back({Op::Kind::kPut, key, value});
  return t;
}

Txn CountTxn(const std::string& key, int i) {
  Txn t;
  t.ops.push_back({Op::Kind::kPut, "/c/counter", std::to_string(i)});
  t.ops.push_back({Op::Kind::kPut, key, std::to_string(i)});
  return t;
}

// Runs `n` writes from `threads` threads at once; returns their results by number.
// The answers land in state shared with the callbacks: when the wait times
// out this returns with some still to come.
std::map<int, Result<TxnResult>> WriteConcurrently(StateService& svc, int n, int threads,
                                                   const std::function<Txn(int)>& make) {
  struct Shared {
    std::mutex mu;
    std::map<int, Result<TxnResult>> got;
    std::atomic<int> answered{0};
  };
  auto s = std::make_shared<Shared>();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; t++) {
    ts.emplace_back([&, t] {
      for (int k = t; k < n; k += threads) {
        svc.Write(make(k), [s, k](Result<TxnResult> r) {
          std::lock_guard l(s->mu);
          s->got.emplace(k, std::move(r));
          s->answered++;
        });
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_TRUE(WaitFor([&] { return s->answered.load() == n; }, 20s))
      << s->answered.load() << " of " << n << " answered";
  std::lock_guard l(s->mu);
  return s->got;
}

class ServiceBatchApply : public SingleMemberService {};

TEST_F(ServiceBatchApply, ConcurrentWritesShareStoreWritesAndAFailedPreconditionFailsOnlyItsOwn) {
  // 300 creates of 150 keys, each key twice, from 12 threads: exactly one
  // create of each key succeeds, the other fails alone.
  const uint64_t batches_before = impl().apply_batches();
  const int64_t rev0 = svc_->store().revision();
  auto got = WriteConcurrently(*svc_, 300, 12, [](int k) {
    return CreateTxn("/b/k" + std::to_string(k % 150), "from-" + std::to_string(k));
  });
  ASSERT_EQ(got.size(), 300u);
  std::map<std::string, int> wins;
  std::set<int64_t> revisions;
  for (auto& [k, r] : got) {
    ASSERT_TRUE(r.ok()) << k << ": " << r.error().message();
    const std::string key = "/b/k" + std::to_string(k % 150);
    auto kv = svc_->store().Get(key);
    ASSERT_TRUE(kv.ok()) << key;
    if (r->succeeded) {
      wins[key]++;
      EXPECT_EQ(kv->value, "from-" + std::to_string(k)) << key;
      EXPECT_EQ(kv->mod_revision, r->revision) << key;
      revisions.insert(r->revision);
    } else {
      EXPECT_EQ(r->failed_key, key);
      ASSERT_TRUE(r->current.has_value()) << key;
      EXPECT_EQ(r->current->value, kv->value) << key;
    }
  }
  EXPECT_EQ(wins.size(), 150u);
  for (const auto& [key, n] : wins) EXPECT_EQ(n, 1) << key;
  EXPECT_EQ(revisions.size(), 150u);
  EXPECT_EQ(svc_->store().revision(), rev0 + 150);
  // Fewer store writes than transactions: entries committed together were
  // applied together.
  const uint64_t batches = impl().apply_batches() - batches_before;
  EXPECT_LT(batches, 300u);
  EXPECT_GE(batches, 1u);
}

// A transaction no store can apply (a key written twice) is refused before
// it reaches the Raft log: in the log it would stop the member at that
// entry, and again at every restart. The writes around it go on.
TEST_F(ServiceBatchApply, ATransactionNoStoreCanApplyNeverReachesTheLog) {
  Txn bad;
  bad.ops.push_back({Op::Kind::kPut, "/v/twice", "1"});
  bad.ops.push_back({Op::Kind::kPut, "/v/twice", "2"});
  auto got = WriteConcurrently(*svc_, 3, 1, [&](int k) { return k == 1 ? bad : CreateTxn("/v/k" + std::to_string(k), "v"); });
  ASSERT_EQ(got.size(), 3u);
  ASSERT_FALSE(got.at(1).ok());
  EXPECT_EQ(got.at(1).error().code(), Code::kInvalid);
  EXPECT_NE(got.at(1).error().message().find("/v/twice"), std::string::npos) << got.at(1).error().message();
  ASSERT_TRUE(got.at(0).ok()) << got.at(0).error().message();
  ASSERT_TRUE(got.at(2).ok()) << got.at(2).error().message();
  // The member still leads, takes writes, and restarts on its log.
  auto more = WriteConcurrently(*svc_, 1, 1, [](int) { return CreateTxn("/v/after", "v"); });
  ASSERT_TRUE(more.at(0).ok()) << more.at(0).error().message();
  svc_.reset();
  Open();
  for (const char* key : {"/v/k0", "/v/k2", "/v/after"}) EXPECT_TRUE(svc_->store().Get(key).ok()) << key;
  EXPECT_FALSE(svc_->store().Get("/v/twice").ok());
}

TEST_F(ServiceBatchApply, AStoreCutBackToAnEarlierStateIsReplayedExactlyOnceAtRestart) {
  const std::string checkpoint = tmp_.path() + "/cut";
  // 400 transactions, each writing /c/counter and its own key, 8 writers at
  // a time; after the first 250 a checkpoint of the store is taken: the
  // store a crash could have left (its writes are not synced; the Raft log
  // is). At restart the log is replayed from its start in batches that
  // straddle the applied index.
  auto make = [](int k) { return CountTxn("/c/k" + std::to_string(k), k); };
  auto got = WriteConcurrently(*svc_, 250, 8, make);
  ASSERT_TRUE(svc_->store().Checkpoint(checkpoint).ok());
  auto more = WriteConcurrently(*svc_, 150, 8, [&](int k) { return make(250 + k); });
  for (auto& [k, r] : more) got.emplace(250 + k, std::move(r));
  ASSERT_EQ(got.size(), 400u);
  for (auto& [k, r] : got) ASSERT_TRUE(r.ok() && r->succeeded) << k;
  const int64_t rev = svc_->store().revision();
  const uint64_t applied = svc_->store().applied_index();
  ASSERT_EQ(rev, 400);
  svc_->Stop();
  svc_.reset();

  // Put the cut store in place (as a crash that lost the store's tail would).
  {
    auto store = Store::Open(tmp_.path() + "/data/store");
    ASSERT_TRUE(store.ok()) << store.error().message();
    ASSERT_TRUE((*store)->Restore(checkpoint).ok());
    EXPECT_EQ((*store)->revision(), 250);
  }
  Open();
  // The replay from the log brings back exactly the lost writes.
  ASSERT_TRUE(WaitFor([&] { return svc_->store().applied_index() >= applied; }, 10s));
  EXPECT_EQ(svc_->store().revision(), rev);
  auto counter = svc_->store().Get("/c/counter");
  ASSERT_TRUE(counter.ok());
  EXPECT_EQ(counter->version, 400);  // 400 writes, each once
  auto range = svc_->store().Range("/c/k");
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->kvs.size(), 400u);
  for (const KeyValue& kv : range->kvs) EXPECT_EQ(kv.version, 1) << kv.key;
  // Every revision 1..400 holds exactly the write that was acknowledged with it.
  for (auto& [k, r] : got) {
    auto kv = svc_->store().Get("/c/k" + std::to_string(k));
    ASSERT_TRUE(kv.ok());
    EXPECT_EQ(kv->mod_revision, r->revision) << k;
  }
}

TEST(ServiceBatchApplyCluster, ALinearizableReadAfterTheBarrierSeesEveryAcknowledgedWrite) {
  TempDir tmp;
  std::vector<Member> members;
  for (uint64_t id = 1; id <= 3; id++) members.push_back(Member{id, "127.0.0.1:" + std::to_string(FreePort()), true});
  std::vector<std::unique_ptr<ReplicatedService>> svcs;
  for (uint64_t id = 1; id <= 3; id++) {
    ReplicatedServiceOptions o;
    o.data_dir = tmp.path() + "/m" + std::to_string(id);
    o.raft.id = id;
    o.raft.address = members[id - 1].address;
    o.raft.bootstrap = members;
    o.raft.election_timeout = 500ms;
    o.raft.heartbeat_timeout = 50ms;
    o.api_url = "http://127.0.0.1:" + std::to_string(id);
    auto s = ReplicatedService::Start(o);
    ASSERT_TRUE(s.ok()) << s.error().message();
    svcs.push_back(std::move(*s));
  }
  ReplicatedService* leader = nullptr;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (auto& s : svcs) {
          if (s->IsLeader()) leader = s.get();
        }
        return leader != nullptr;
      },
      10s));
  // Each round: many writes at once, then a barrier; the leader's store must
  // hold every write acknowledged before the barrier was asked for.
  for (int round = 0; round < 5; round++) {
    auto got = WriteConcurrently(*leader, 60, 6, [round](int k) {
      return CreateTxn("/l/r" + std::to_string(round) + "-" + std::to_string(k), "v");
    });
    for (auto& [k, r] : got) ASSERT_TRUE(r.ok() && r->succeeded) << k << ": " << (r.ok() ? "" : r.error().message());
    ASSERT_TRUE(leader->ReadBarrierSync(ReadConsistency::kLinearizable).ok());
    auto range = leader->store().Range("/l/r" + std::to_string(round) + "-");
    ASSERT_TRUE(range.ok());
    EXPECT_EQ(range->kvs.size(), 60u) << "round " << round;
  }
  // And the followers apply the same writes, each once.
  for (auto& s : svcs) {
    ASSERT_TRUE(WaitFor([&] { return s->store().revision() == leader->store().revision(); }, 10s));
    auto range = s->store().Range("/l/");
    ASSERT_TRUE(range.ok());
    EXPECT_EQ(range->kvs.size(), 300u);
  }
  for (auto& s : svcs) s->Stop();
}

}  // namespace
}  // namespace bosun::state
