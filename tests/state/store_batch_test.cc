// Store::ApplyBatch on the real RocksDB store: several transactions, each
// from its own Raft index, written in ONE WriteBatch. What a user relies on:
//  * each transaction behaves as if applied alone, in order (its own
//    revision, reads that see the transactions before it, a failed
//    precondition that fails only itself), and watches see every change once;
//  * replay after a crash is exactly-once: a batch that straddles the
//    recorded applied index (its first entries already in the store, the rest
//    not) applies only the rest, also after the store was closed and reopened;
//  * an invalid transaction writes nothing of its batch.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/state/store_test_util.h"

namespace bosun::state {
namespace {

using namespace testing;

Txn CreateTxn(const std::string& key, const std::string& value) {
  Txn t;
  t.preconditions.push_back({key, Precondition::Kind::kMustNotExist, 0});
  t.ops.push_back(PutOp(key, value));
  return t;
}

Txn UpdateAt(const std::string& key, const std::string& value, int64_t mod_revision) {
  Txn t;
  t.preconditions.push_back({key, Precondition::Kind::kModRevisionEquals, mod_revision});
  t.ops.push_back(PutOp(key, value));
  return t;
}

std::vector<IndexedTxn> Indexed(std::vector<Txn> txns, uint64_t first_index) {
  std::vector<IndexedTxn> out;
  for (Txn& t : txns) out.push_back(IndexedTxn{std::move(t), first_index++});
  return out;
}

TEST(StoreBatch, EachTransactionSeesTheOnesBeforeItAndAFailedPreconditionFailsOnlyItself) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_TRUE(store);
  Collector watch;
  auto handle = store->Watch("/", 1, watch.Callback());
  ASSERT_TRUE(handle.ok());

  auto results = store->ApplyBatch(Indexed({CreateTxn("/a", "a1"),       // index 1, revision 1
                                            UpdateAt("/a", "a2", 1),     // 2: sees /a at 1 -> revision 2
                                            CreateTxn("/b", "b1"),       // 3: revision 3
                                            CreateTxn("/b", "again"),    // 4: /b exists (from 3): fails alone
                                            UpdateAt("/a", "stale", 1),  // 5: /a is at 2 now: fails alone
                                            Del("/a"),                   // 6: revision 4
                                            Put("/c", "c1")},            // 7: revision 5
                                           1));
  ASSERT_TRUE(results.ok()) << results.error().message();
  ASSERT_EQ(results->size(), 7u);
  const std::vector<bool> succeeded = {true, true, true, false, false, true, true};
  const std::vector<int64_t> revision = {1, 2, 3, 3, 3, 4, 5};
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ((*results)[i].succeeded, succeeded[i]) << "transaction " << i;
    EXPECT_EQ((*results)[i].revision, revision[i]) << "transaction " << i;
  }
  EXPECT_EQ((*results)[3].failed_key, "/b");
  EXPECT_EQ(Str((*results)[3].current), "/b=b1 c3 m3 v1");
  EXPECT_EQ((*results)[4].failed_key, "/a");
  EXPECT_EQ(Str((*results)[4].current), "/a=a2 c1 m2 v2");
  EXPECT_EQ(Str((*results)[1].prev.at(0)), "/a=a1 c1 m1 v1");
  EXPECT_EQ(Str((*results)[5].prev.at(0)), "/a=a2 c1 m2 v2");

  EXPECT_EQ(store->revision(), 5);
  EXPECT_EQ(store->applied_index(), 7u);
  EXPECT_EQ(Str(store->Get("/a")), "error NotFound");
  EXPECT_EQ(Str(store->Get("/a", 2)), "/a=a2 c1 m2 v2");
  EXPECT_EQ(Str(store->Get("/b")), "/b=b1 c3 m3 v1");
  EXPECT_EQ(Str(store->Get("/c")), "/c=c1 c5 m5 v1");

  // Watchers see each change once, in order, each revision its own.
  ASSERT_TRUE(watch.WaitForRevision(5));
  std::vector<std::string> events;
  for (const Event& e : watch.events()) events.push_back(Str(e));
  EXPECT_EQ(events, (std::vector<std::string>{
                        "PUT /a=a1 c1 m1 v1 prev (none)",
                        "PUT /a=a2 c1 m2 v2 prev /a=a1 c1 m1 v1",
                        "PUT /b=b1 c3 m3 v1 prev (none)",
                        "DEL /a= c0 m4 v0 prev /a=a2 c1 m2 v2",
                        "PUT /c=c1 c5 m5 v1 prev (none)",
                    }));
}

TEST(StoreBatch, AKeyDeletedAndCreatedAgainInOneBatchStartsANewLife) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_TRUE(store);
  auto results = store->ApplyBatch(Indexed({CreateTxn("/k", "one"),      // revision 1
                                            Del("/k"),                   // 2
                                            UpdateAt("/k", "lost", 1),   // /k is gone: fails alone
                                            CreateTxn("/k", "two"),      // 3: a new object
                                            UpdateAt("/k", "three", 3),  // 4: sees the new one
                                            CreateTxn("/k", "again")},   // exists again: fails alone
                                           1));
  ASSERT_TRUE(results.ok()) << results.error().message();
  const std::vector<bool> succeeded = {true, true, false, true, true, false};
  for (size_t i = 0; i < succeeded.size(); ++i) EXPECT_EQ((*results)[i].succeeded, succeeded[i]) << "transaction " << i;
  EXPECT_EQ(Str((*results)[1].prev.at(0)), "/k=one c1 m1 v1");
  EXPECT_EQ(Str((*results)[2].current), "(none)");
  EXPECT_EQ(Str((*results)[4].prev.at(0)), "/k=two c3 m3 v1");
  EXPECT_EQ(Str((*results)[5].current), "/k=three c3 m4 v2");
  EXPECT_EQ(Str(store->Get("/k")), "/k=three c3 m4 v2");
  EXPECT_EQ(Str(store->Get("/k", 1)), "/k=one c1 m1 v1");
  EXPECT_EQ(Str(store->Get("/k", 2)), "error NotFound");
}

TEST(StoreBatch, ABatchThatStraddlesTheAppliedIndexAppliesOnlyWhatIsNewAfterAReopen) {
  TempDir dir;
  auto counter = [](int i) { return Put("/counter", "v" + std::to_string(i)); };
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_TRUE(store);
    std::vector<Txn> first;
    for (int i = 1; i <= 3; ++i) first.push_back(counter(i));
    auto r = store->ApplyBatch(Indexed(std::move(first), 1));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(store->applied_index(), 3u);
  }
  // The process died here with entries 4..8 committed in the Raft log; at
  // restart the log is replayed from the start, in one batch 1..8.
  auto store = OpenOrDie(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->applied_index(), 3u);
  EXPECT_EQ(store->revision(), 3);
  std::vector<Txn> replay;
  for (int i = 1; i <= 8; ++i) replay.push_back(counter(i));
  auto r = store->ApplyBatch(Indexed(std::move(replay), 1));
  ASSERT_TRUE(r.ok()) << r.error().message();
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_TRUE((*r)[i].succeeded) << i;
    // Entries already applied answer with the revision the store is at.
    EXPECT_EQ((*r)[i].revision, i < 3 ? 3 : static_cast<int64_t>(i + 1)) << i;
  }
  EXPECT_EQ(store->applied_index(), 8u);
  EXPECT_EQ(store->revision(), 8);
  // Eight writes of /counter, each once: version 8, one history row each.
  EXPECT_EQ(Str(store->Get("/counter")), "/counter=v8 c1 m8 v8");
  for (int rev = 1; rev <= 8; ++rev) {
    EXPECT_EQ(Str(store->Get("/counter", rev)), "/counter=v" + std::to_string(rev) + " c1 m" + std::to_string(rev) +
                                                    " v" + std::to_string(rev));
  }
  Collector watch;
  auto handle = store->Watch("/", 1, watch.Callback());
  ASSERT_TRUE(handle.ok());
  ASSERT_TRUE(watch.WaitForRevision(8));
  EXPECT_EQ(watch.events().size(), 8u);

  // Replaying the same batch again changes nothing.
  std::vector<Txn> again;
  for (int i = 1; i <= 8; ++i) again.push_back(counter(i));
  auto r2 = store->ApplyBatch(Indexed(std::move(again), 1));
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(store->revision(), 8);
  EXPECT_EQ(Str(store->Get("/counter")), "/counter=v8 c1 m8 v8");
}

TEST(StoreBatch, AFailedPreconditionStillCountsItsIndexAsApplied) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_TRUE(store);
  auto r = store->ApplyBatch(Indexed({CreateTxn("/x", "1"), CreateTxn("/x", "2")}, 10));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)[1].succeeded);
  EXPECT_EQ(store->applied_index(), 11u);
  // A batch made only of a failing transaction records its index too.
  auto r2 = store->ApplyBatch(Indexed({CreateTxn("/x", "3")}, 12));
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE((*r2)[0].succeeded);
  EXPECT_EQ(store->applied_index(), 12u);
  EXPECT_EQ(store->revision(), 1);
}

TEST(StoreBatch, AnInvalidTransactionWritesNothingOfItsBatch) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_TRUE(store);
  Txn twice;
  twice.ops.push_back(PutOp("/k", "1"));
  twice.ops.push_back(PutOp("/k", "2"));
  auto r = store->ApplyBatch(Indexed({Put("/ok", "1"), twice}, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalid);
  EXPECT_NE(r.error().message().find("transaction 2 of 2"), std::string::npos) << r.error().message();
  EXPECT_EQ(store->revision(), 0);
  EXPECT_EQ(store->applied_index(), 0u);
  EXPECT_EQ(Str(store->Get("/ok")), "error NotFound");
}

}  // namespace
}  // namespace bosun::state
