// Group commit (state/replicator_internal.h): proposals that arrive while the
// loop thread is busy go out in one raft_apply, each still its own Raft entry
// applied once with its own index. These tests hold the loop inside an apply
// so that proposals pile up as they do under load, then check that
//  * they were coalesced (fewer raft_apply calls than commands),
//  * every proposer got the answer of its own entry, in the order proposed,
//  * nothing was applied twice, also after a restart (replay),
//  * a batch whose leader loses its majority acknowledges none of its
//    commands, including those after the first (libraft answers a
//    multi-entry raft_apply only once),
// and, through the product's ReplicatedService on the real RocksDB store,
// that a transaction whose precondition fails inside a batch fails alone.
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
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

// Holds the loop thread inside Apply("block") until released.
class LoopBlocker {
 public:
  explicit LoopBlocker(MemoryFsm& fsm) : fsm_(fsm), released_(release_.get_future().share()) {
    fsm_.set_on_apply([this](std::string_view cmd) {
      if (cmd == "block") {
        blocked_ = true;
        released_.wait();
      }
    });
  }
  ~LoopBlocker() {
    Release();
    fsm_.set_on_apply(nullptr);
  }
  bool WaitBlocked() {
    return WaitFor([&] { return blocked_.load(); }, 5s);
  }
  void Release() {
    if (!released_flag_.exchange(true)) release_.set_value();
  }

 private:
  MemoryFsm& fsm_;
  std::promise<void> release_;
  std::shared_future<void> released_;
  std::atomic<bool> blocked_{false};
  std::atomic<bool> released_flag_{false};
};

TEST(ReplicatorGroupCommit, ProposalsQueuedWhileTheLoopIsBusyShareOneAppendAndEachGetsItsOwnEntry) {
  Cluster c(1);
  c.StartAll();
  ASSERT_EQ(c.WaitForLeader(), 0);
  ASSERT_TRUE(ProposeSync(c.rep(0), "warm-up").ok());

  LoopBlocker blocker(c.fsm(0));
  auto blocked = std::make_shared<Answer<Result<std::string>>>();
  c.rep(0).Propose("block", [blocked](Result<std::string> r) { blocked->Set(std::move(r)); });
  ASSERT_TRUE(blocker.WaitBlocked());

  const uint64_t calls_before = Impl(c.rep(0)).apply_calls();
  const uint64_t commands_before = Impl(c.rep(0)).commands_proposed();
  // 8 threads x 25 proposals, all queued while the loop is held.
  constexpr int kThreads = 8, kEach = 25;
  std::vector<std::vector<std::shared_ptr<Answer<Result<std::string>>>>> answers(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kEach; k++) {
        auto a = std::make_shared<Answer<Result<std::string>>>();
        answers[t].push_back(a);
        c.rep(0).Propose("t" + std::to_string(t) + "-" + std::to_string(k),
                         [a](Result<std::string> r) { a->Set(std::move(r)); });
      }
    });
  }
  for (auto& th : threads) th.join();
  blocker.Release();
  ASSERT_TRUE(blocked->Wait(5s).has_value());

  // Every proposer gets "ok:<index>" of the entry that holds its command.
  std::map<std::string, uint64_t> index_of;
  for (int t = 0; t < kThreads; t++) {
    for (int k = 0; k < kEach; k++) {
      auto got = answers[t][k]->Wait(10s);
      ASSERT_TRUE(got.has_value()) << "t" << t << "-" << k;
      ASSERT_TRUE(got->ok()) << got->error().message();
      index_of["t" + std::to_string(t) + "-" + std::to_string(k)] = std::stoull(got->value().substr(3));
    }
  }
  std::set<uint64_t> seen;
  std::map<std::string, int> applied_times;
  for (const MemoryFsm::Entry& e : c.fsm(0).Entries()) {
    applied_times[e.command]++;
    auto it = index_of.find(e.command);
    if (it != index_of.end()) {
      EXPECT_EQ(it->second, e.index) << e.command;
      seen.insert(e.index);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach));
  for (const auto& [cmd, times] : applied_times) EXPECT_EQ(times, 1) << cmd;
  // Each thread's proposals are applied in the order it made them.
  for (int t = 0; t < kThreads; t++) {
    for (int k = 1; k < kEach; k++) {
      EXPECT_LT(index_of["t" + std::to_string(t) + "-" + std::to_string(k - 1)],
                index_of["t" + std::to_string(t) + "-" + std::to_string(k)]);
    }
  }
  const uint64_t calls = Impl(c.rep(0)).apply_calls() - calls_before;
  const uint64_t commands = Impl(c.rep(0)).commands_proposed() - commands_before;
  EXPECT_EQ(commands, static_cast<uint64_t>(kThreads * kEach));
  // Proposals that found the loop busy went out together: the 200 commands
  // took at most a few appends (one per loop turn that saw new ones).
  EXPECT_LE(calls, 4u) << calls << " raft_apply calls for " << commands << " commands";

  // Restarted from its folder: the log is replayed, nothing applied twice.
  const size_t before_restart = c.fsm(0).size();
  c.Stop(0);
  ASSERT_TRUE(c.Start(0).ok());
  ASSERT_EQ(c.WaitForLeader(), 0);
  ASSERT_TRUE(ProposeSync(c.rep(0), "after-restart").ok());
  EXPECT_EQ(c.fsm(0).size(), before_restart + 1);
}

TEST(ReplicatorGroupCommit, ABatchHeldByALeaderThatLostItsMajorityAcknowledgesNoneOfItsCommands) {
  Cluster c(3);
  c.StartAll();
  int leader = c.WaitForLeader();
  ASSERT_GE(leader, 0);
  ASSERT_EQ(ProposeMany(c.rep(leader), "w", 5), 5);
  // Hold the leader's loop in the apply of a committed entry, take its
  // followers away meanwhile, and queue 40 commands: they go out in one
  // raft_apply of 40 entries that can never commit.
  LoopBlocker blocker(c.fsm(leader));
  auto blocked = std::make_shared<Answer<Result<std::string>>>();
  c.rep(leader).Propose("block", [blocked](Result<std::string> r) { blocked->Set(std::move(r)); });
  ASSERT_TRUE(blocker.WaitBlocked());
  for (int i = 0; i < 3; i++) {
    if (i != leader) c.Stop(i);
  }
  const uint64_t calls_before = Impl(c.rep(leader)).apply_calls();
  constexpr int kN = 40;
  std::vector<std::shared_ptr<Answer<Result<std::string>>>> answers;
  for (int k = 0; k < kN; k++) {
    auto a = std::make_shared<Answer<Result<std::string>>>();
    answers.push_back(a);
    c.rep(leader).Propose("minority-" + std::to_string(k), [a](Result<std::string> r) { a->Set(std::move(r)); });
  }
  blocker.Release();
  auto b = blocked->Wait(5s);
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->ok());  // committed before the followers went away
  ASSERT_TRUE(WaitFor([&] { return !c.rep(leader).IsLeader(); }, 5s));
  // Every command is answered (none hangs) and none is acknowledged.
  for (int k = 0; k < kN; k++) {
    auto got = answers[k]->Wait(5s);
    ASSERT_TRUE(got.has_value()) << "minority-" << k << " got no answer";
    ASSERT_FALSE(got->ok()) << "minority-" << k << " acknowledged without a majority";
    EXPECT_EQ(got->error().code(), Code::kUnavailable) << got->error().message();
    EXPECT_FALSE(c.fsm(leader).Contains("minority-" + std::to_string(k)));
  }
  EXPECT_EQ(Impl(c.rep(leader)).apply_calls() - calls_before, 1u);
}

// ---- through ReplicatedService and the RocksDB store ----

class ServiceGroupCommit : public SingleMemberService {};

Txn Create(const std::string& key, const std::string& value) {
  Txn t;
  t.preconditions.push_back({key, Precondition::Kind::kMustNotExist, 0});
  t.ops.push_back({Op::Kind::kPut, key, value});
  return t;
}

TEST_F(ServiceGroupCommit, EachTransactionOfABatchGetsItsOwnResultAndAFailedPreconditionFailsOnlyItsOwn) {
  // Keys k0..k99 exist already for odd numbers.
  for (int k = 1; k < 100; k += 2) {
    auto r = svc_->WriteSync(Create("/g/k" + std::to_string(k), "old"));
    ASSERT_TRUE(r.ok() && r->succeeded);
  }
  const int64_t rev0 = svc_->store().revision();
  // 100 creates from 10 threads at once: the even ones must succeed, the odd
  // ones fail their "must not exist" without disturbing their neighbours in
  // the same Raft append. The answers land in state shared with the
  // callbacks: svc_ outlives this body, and one that times out waiting for
  // them returns with some still to come.
  struct Got {
    std::mutex mu;
    std::map<int, Result<TxnResult>> results;
    std::atomic<int> answered{0};
  };
  auto got = std::make_shared<Got>();
  std::vector<std::thread> threads;
  for (int t = 0; t < 10; t++) {
    threads.emplace_back([&, t] {
      for (int k = t; k < 100; k += 10) {
        svc_->Write(Create("/g/k" + std::to_string(k), "new-" + std::to_string(k)), [got, k](Result<TxnResult> r) {
          std::lock_guard l(got->mu);
          got->results.emplace(k, std::move(r));
          got->answered++;
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(WaitFor([&] { return got->answered.load() == 100; }, 10s));

  std::set<int64_t> revisions;
  for (int k = 0; k < 100; k++) {
    const std::string key = "/g/k" + std::to_string(k);
    Result<TxnResult>& r = got->results.at(k);
    ASSERT_TRUE(r.ok()) << key << ": " << r.error().message();
    auto kv = svc_->store().Get(key);
    ASSERT_TRUE(kv.ok()) << key;
    if (k % 2 == 1) {
      EXPECT_FALSE(r->succeeded) << key;
      EXPECT_EQ(r->failed_key, key);
      ASSERT_TRUE(r->current.has_value()) << key;
      EXPECT_EQ(r->current->value, "old");
      EXPECT_EQ(kv->value, "old") << key;
    } else {
      EXPECT_TRUE(r->succeeded) << key;
      // The result is this transaction's own: its revision wrote this key.
      EXPECT_EQ(kv->value, "new-" + std::to_string(k));
      EXPECT_EQ(kv->mod_revision, r->revision) << key;
      revisions.insert(r->revision);
    }
  }
  // 50 successful creates made 50 distinct revisions, one each.
  EXPECT_EQ(revisions.size(), 50u);
  EXPECT_EQ(svc_->store().revision(), rev0 + 50);

  // A restart replays the Raft log over the store: nothing is applied twice.
  const int64_t rev = svc_->store().revision();
  const uint64_t applied = svc_->store().applied_index();
  svc_->Stop();
  svc_.reset();
  Open();
  EXPECT_EQ(svc_->store().revision(), rev);
  EXPECT_GE(svc_->store().applied_index(), applied);
  auto range = svc_->store().Range("/g/");
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->kvs.size(), 100u);
  for (const KeyValue& kv : range->kvs) EXPECT_EQ(kv.version, 1) << kv.key;
}

}  // namespace
}  // namespace bosun::state
