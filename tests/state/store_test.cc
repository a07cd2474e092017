// The revisioned store's data model: revisions, versions, preconditions,
// reads at a revision, ranges, compaction, restart, checkpoint and restore.
// Watches are in store_watch_test.cc.
#include "state/store.h"

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <stdlib.h>

#include "tests/state/store_test_util.h"

namespace bosun::state {
namespace {

using testing::Collector;
using testing::DelOp;
using ::testing::ElementsAre;
using testing::Fast;
using ::testing::HasSubstr;
using testing::Keys;
using testing::Must;
using testing::OpenOrDie;
using testing::Put;
using testing::PutOp;
using testing::Str;
using testing::TempDir;

TEST(Store, EmptyStoreIsAtRevisionZero) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  EXPECT_EQ(store->revision(), 0);
  EXPECT_EQ(store->applied_index(), 0u);
  EXPECT_EQ(store->Get("/a").error().code(), Code::kNotFound);
  auto r = store->Range("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->kvs.empty());
  EXPECT_EQ(r->revision, 0);
}

TEST(Store, OneRevisionPerTransactionNotPerOp) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  TxnResult r = Must(*store, Txn{{}, {PutOp("/a", "1"), PutOp("/b", "2"), PutOp("/c", "3")}});
  EXPECT_EQ(r.revision, 1);
  EXPECT_EQ(store->revision(), 1);
  for (const char* k : {"/a", "/b", "/c"}) EXPECT_EQ(store->Get(k)->mod_revision, 1) << k;
  EXPECT_EQ(Must(*store, Put("/a", "again")).revision, 2);
  EXPECT_EQ(store->revision(), 2);
}

TEST(Store, CreateRevisionModRevisionAndVersionAcrossDeleteAndRecreate) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Must(*store, Put("/other", "x"));  // revision 1
  Must(*store, Put("/k", "a"));      // 2
  EXPECT_EQ(Str(store->Get("/k")), "/k=a c2 m2 v1");
  Must(*store, Put("/k", "b"));  // 3
  EXPECT_EQ(Str(store->Get("/k")), "/k=b c2 m3 v2");
  Must(*store, testing::Del("/k"));  // 4
  EXPECT_EQ(store->Get("/k").error().code(), Code::kNotFound);
  Must(*store, Put("/k", "c"));  // 5: a new life, version starts again
  EXPECT_EQ(Str(store->Get("/k")), "/k=c c5 m5 v1");
  EXPECT_EQ(Str(store->Get("/other")), "/other=x c1 m1 v1");
}

TEST(Store, FailedPreconditionWritesNothingAndNamesTheKey) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Must(*store, Put("/a", "1"));  // 1
  Must(*store, Put("/a", "2"));  // 2

  // A stale mod_revision (optimistic concurrency).
  Txn stale{{{"/a", Precondition::Kind::kModRevisionEquals, 1}}, {PutOp("/a", "lost"), PutOp("/b", "lost")}};
  auto r = store->Apply(stale, 0);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(r->succeeded);
  EXPECT_EQ(r->failed_key, "/a");
  EXPECT_EQ(Str(r->current), "/a=2 c1 m2 v2");
  EXPECT_EQ(r->revision, 2);
  EXPECT_EQ(store->revision(), 2);
  EXPECT_EQ(store->Get("/a")->value, "2");
  EXPECT_EQ(store->Get("/b").error().code(), Code::kNotFound);

  // Must exist on an absent key: current is empty.
  r = store->Apply(Txn{{{"/nope", Precondition::Kind::kMustExist, 0}}, {PutOp("/b", "x")}}, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);
  EXPECT_EQ(r->failed_key, "/nope");
  EXPECT_FALSE(r->current.has_value());

  // The first failing precondition is the one reported.
  r = store->Apply(Txn{{{"/a", Precondition::Kind::kMustExist, 0},
                        {"/a", Precondition::Kind::kMustNotExist, 0},
                        {"/nope", Precondition::Kind::kMustExist, 0}},
                       {PutOp("/b", "x")}},
                   0);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);
  EXPECT_EQ(r->failed_key, "/a");
  EXPECT_EQ(store->revision(), 2);

  // Preconditions that hold let the whole transaction through, in one revision.
  TxnResult ok = Must(*store, Txn{{{"/a", Precondition::Kind::kModRevisionEquals, 2},
                                   {"/b", Precondition::Kind::kMustNotExist, 0},
                                   {"/b", Precondition::Kind::kModRevisionEquals, 0}},  // 0: absent
                                  {PutOp("/a", "3"), PutOp("/b", "1")}});
  EXPECT_EQ(ok.revision, 3);
  EXPECT_EQ(Str(store->Get("/b")), "/b=1 c3 m3 v1");
}

TEST(Store, ReportsPreviousValuesAndDeletingNothingMakesNoRevision) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  TxnResult r = Must(*store, Txn{{}, {PutOp("/a", "1"), PutOp("/b", "1")}});
  ASSERT_EQ(r.prev.size(), 2u);
  EXPECT_FALSE(r.prev[0].has_value());
  EXPECT_FALSE(r.prev[1].has_value());

  r = Must(*store, Txn{{}, {PutOp("/a", "2"), DelOp("/b"), DelOp("/never")}});
  EXPECT_EQ(r.revision, 2);
  ASSERT_EQ(r.prev.size(), 3u);
  EXPECT_EQ(Str(r.prev[0]), "/a=1 c1 m1 v1");
  EXPECT_EQ(Str(r.prev[1]), "/b=1 c1 m1 v1");
  EXPECT_FALSE(r.prev[2].has_value());

  r = Must(*store, Txn{{}, {DelOp("/b"), DelOp("/never")}});
  EXPECT_TRUE(r.succeeded);
  EXPECT_EQ(r.revision, 2) << "deleting absent keys must not make a revision";
  EXPECT_EQ(store->revision(), 2);
}

TEST(Store, RefusesMalformedTransactionsWithoutWriting) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  auto dup = store->Apply(Txn{{}, {PutOp("/a", "1"), DelOp("/a")}}, 0);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code(), Code::kInvalid);
  EXPECT_THAT(dup.error().message(), HasSubstr("\"/a\""));
  auto empty = store->Apply(Put("", "x"), 0);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), Code::kInvalid);
  EXPECT_EQ(store->revision(), 0);
  EXPECT_EQ(store->Get("/a").error().code(), Code::kNotFound);
}

TEST(Store, ReadsAtOldRevisions) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Must(*store, Put("/k", "one"));    // 1
  Must(*store, Put("/other", "x"));  // 2
  Must(*store, Put("/k", "two"));    // 3
  Must(*store, testing::Del("/k"));  // 4
  Must(*store, Put("/k", "three"));  // 5
  EXPECT_EQ(Str(store->Get("/k", 1)), "/k=one c1 m1 v1");
  EXPECT_EQ(Str(store->Get("/k", 2)), "/k=one c1 m1 v1");
  EXPECT_EQ(Str(store->Get("/k", 3)), "/k=two c1 m3 v2");
  EXPECT_EQ(store->Get("/k", 4).error().code(), Code::kNotFound);
  EXPECT_EQ(Str(store->Get("/k", 5)), "/k=three c5 m5 v1");
  EXPECT_EQ(store->Get("/other", 1).error().code(), Code::kNotFound);
  auto future = store->Get("/k", 6);
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.error().code(), Code::kInvalid);
  EXPECT_THAT(future.error().message(), HasSubstr("future"));

  auto at3 = store->Range("/", 3);
  ASSERT_TRUE(at3.ok());
  EXPECT_EQ(at3->revision, 3);
  EXPECT_THAT(Keys(*at3), ElementsAre("/k", "/other"));
  EXPECT_EQ(at3->kvs[0].value, "two");
  auto at4 = store->Range("/", 4);
  EXPECT_THAT(Keys(*at4), ElementsAre("/other")) << "a tombstone hides the key at its revision";
}

TEST(Store, RangeByPrefixStaysInsideThePrefix) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  const std::string nul("\0", 1);
  Must(*store, Txn{{},
                   {PutOp("/registry/pods/default/a", "1"), PutOp("/registry/pods/default/b", "2"),
                    PutOp("/registry/podsx/default/c", "3"), PutOp("/registry/pods", "4"),
                    PutOp("/registry/pod/z", "5"), PutOp("/registry/pods/kube/d", "6")}});
  Must(*store, Txn{{},
                   {PutOp("b", "1"), PutOp("b" + nul, "2"), PutOp("b" + nul + "x", "3"), PutOp("b\x01", "4"),
                    PutOp("b\xff", "5"), PutOp("b\xff\xff", "6"), PutOp("c", "7")}});

  EXPECT_THAT(Keys(*store->Range("/registry/pods/")),
              ElementsAre("/registry/pods/default/a", "/registry/pods/default/b", "/registry/pods/kube/d"));
  EXPECT_THAT(Keys(*store->Range("/registry/pods/default/")),
              ElementsAre("/registry/pods/default/a", "/registry/pods/default/b"));
  EXPECT_THAT(Keys(*store->Range("/registry/podsx/")), ElementsAre("/registry/podsx/default/c"));
  EXPECT_THAT(Keys(*store->Range("/registry/nothing/")), ElementsAre());
  // Binary keys sort bytewise and prefixes hold for NUL and 0xff bytes too.
  EXPECT_THAT(Keys(*store->Range("b" + nul)), ElementsAre("b" + nul, "b" + nul + "x"));
  EXPECT_THAT(Keys(*store->Range("b\xff")), ElementsAre("b\xff", "b\xff\xff"));
  EXPECT_THAT(Keys(*store->Range("b")), ElementsAre("b", "b" + nul, "b" + nul + "x", "b\x01", "b\xff", "b\xff\xff"));
  EXPECT_EQ(store->Get("b" + nul)->value, "2");
  EXPECT_EQ(store->Range("")->kvs.size(), 13u);
}

TEST(Store, RangePagesWithLimitAndStartAfter) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  for (int i = 0; i < 10; ++i) Must(*store, Put("/p/" + std::to_string(i), std::to_string(i)));
  Must(*store, testing::Del("/p/4"));
  Must(*store, Put("/p/0", "rewritten"));  // several rows for one key
  Must(*store, Put("/q/0", "neighbour"));

  std::vector<std::string> all;
  std::string after;
  int pages = 0;
  for (;;) {
    auto page = store->Range("/p/", 0, 3, after);
    ASSERT_TRUE(page.ok()) << page.error().message();
    ++pages;
    for (const KeyValue& kv : page->kvs) all.push_back(kv.key);
    if (!page->more) break;
    ASSERT_EQ(page->kvs.size(), 3u);
    after = page->kvs.back().key;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(all, ElementsAre("/p/0", "/p/1", "/p/2", "/p/3", "/p/5", "/p/6", "/p/7", "/p/8", "/p/9"));

  // An exact last page has more == false.
  auto exact = store->Range("/p/", 0, 9);
  EXPECT_EQ(exact->kvs.size(), 9u);
  EXPECT_FALSE(exact->more);
  // Paging at an old revision sees that revision (key 4 still there, 0 the old value).
  auto old = store->Range("/p/", 10, 2, "/p/3");
  ASSERT_TRUE(old.ok());
  EXPECT_THAT(Keys(*old), ElementsAre("/p/4", "/p/5"));
  EXPECT_TRUE(old->more);
  EXPECT_EQ(store->Range("/p/", 10, 1)->kvs[0].value, "0");
  // start_after outside the prefix: before it starts at the beginning, after it yields nothing.
  EXPECT_EQ(store->Range("/p/", 0, 1, "/a")->kvs[0].key, "/p/0");
  EXPECT_TRUE(store->Range("/p/", 0, 0, "/q")->kvs.empty());
}

TEST(Store, CompactionForgetsOnlyWhatIsBelowTheCompactedRevision) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Must(*store, Put("/keep", "v1"));                                            // 1
  Must(*store, Put("/gone", "x"));                                             // 2
  Must(*store, testing::Del("/gone"));                                         // 3: deleted before the compaction point
  for (int i = 0; i < 40; ++i) Must(*store, Put("/busy", std::to_string(i)));  // 4..43
  Must(*store, Put("/edge", "at45"));                                          // 44
  Must(*store, Put("/edge", "at45b"));  // 45: written exactly at the compaction point
  Must(*store, Put("/keep", "v2"));     // 46
  Must(*store, testing::Del("/edge"));  // 47

  ASSERT_TRUE(store->Compact(45).ok());
  EXPECT_EQ(store->compacted_revision(), 45);
  for (int64_t below : {1, 20, 44}) {
    auto r = store->Get("/keep", below);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Code::kCompacted) << below;
    EXPECT_THAT(r.error().message(), HasSubstr("45"));
    EXPECT_EQ(store->Range("/", below).error().code(), Code::kCompacted);
  }
  EXPECT_EQ(Str(store->Get("/keep", 45)), "/keep=v1 c1 m1 v1");
  EXPECT_EQ(Str(store->Get("/keep")), "/keep=v2 c1 m46 v2");
  EXPECT_EQ(Str(store->Get("/busy", 45)), "/busy=39 c4 m43 v40");
  EXPECT_EQ(Str(store->Get("/edge", 45)), "/edge=at45b c44 m45 v2");
  EXPECT_EQ(store->Get("/edge", 47).error().code(), Code::kNotFound);
  EXPECT_EQ(store->Get("/gone", 45).error().code(), Code::kNotFound);
  EXPECT_EQ(store->Get("/gone").error().code(), Code::kNotFound);
  EXPECT_THAT(Keys(*store->Range("/", 45)), ElementsAre("/busy", "/edge", "/keep"));
  EXPECT_THAT(Keys(*store->Range("/")), ElementsAre("/busy", "/keep"));

  // Compacting again to the same point, or below, is a harmless no-op;
  // compacting past the present is refused.
  EXPECT_TRUE(store->Compact(45).ok());
  EXPECT_TRUE(store->Compact(10).ok());
  EXPECT_EQ(store->compacted_revision(), 45);
  auto future = store->Compact(48);
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.error().code(), Code::kInvalid);

  // A second compaction builds on the first; everything survives a restart.
  Must(*store, Put("/busy", "last"));  // 48
  ASSERT_TRUE(store->Compact(48).ok());
  store.reset();
  store = OpenOrDie(dir.path());
  EXPECT_EQ(store->compacted_revision(), 48);
  EXPECT_EQ(store->revision(), 48);
  EXPECT_EQ(store->Get("/keep", 47).error().code(), Code::kCompacted);
  EXPECT_EQ(Str(store->Get("/keep", 48)), "/keep=v2 c1 m46 v2");
  EXPECT_EQ(Str(store->Get("/busy")), "/busy=last c4 m48 v41");
  EXPECT_THAT(Keys(*store->Range("/")), ElementsAre("/busy", "/keep"));
}

// Compaction must actually free the old rows, not just hide them.
TEST(Store, CompactionRemovesOldRowsFromDisk) {
  TempDir dir;
  auto count_rows = [&](const std::string& prefix) {
    rocksdb::DB* raw = nullptr;
    rocksdb::Options o;
    EXPECT_TRUE(rocksdb::DB::OpenForReadOnly(o, dir.Sub("db"), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    int n = 0;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
    return n;
  };
  {
    auto store = OpenOrDie(dir.path());
    for (int i = 0; i < 50; ++i) Must(*store, Put("/a", std::to_string(i)));  // 1..50, DeleteRange path
    for (int i = 0; i < 3; ++i) Must(*store, Put("/b", std::to_string(i)));   // 51..53, point deletes
    Must(*store, testing::Del("/b"));                                         // 54
    Must(*store, Put("/c", "x"));                                             // 55
  }
  EXPECT_EQ(count_rows("h/"), 50 + 4 + 1);
  EXPECT_EQ(count_rows("r/"), 55);
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_TRUE(store->Compact(55).ok());
  }
  EXPECT_EQ(count_rows("h/"), 2) << "the newest /a row and /c; /b's rows and tombstone are gone";
  EXPECT_EQ(count_rows("r/"), 1);
}

TEST(Store, ReopenKeepsDataAndReplayOfAppliedIndexesChangesNothing) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.path(), StoreOptions{});
    Must(*store, Put("/a", "1"), 1);
    Must(*store, Put("/b", "1"), 2);
    Must(*store, Put("/a", "2"), 3);
    EXPECT_EQ(store->applied_index(), 3u);
  }
  auto store = OpenOrDie(dir.path(), StoreOptions{});
  EXPECT_EQ(store->revision(), 3);
  EXPECT_EQ(store->applied_index(), 3u);
  // Raft replays entries 2 and 3 after the restart: nothing changes.
  EXPECT_EQ(Must(*store, Put("/b", "1"), 2).revision, 3);
  EXPECT_EQ(Must(*store, Put("/a", "2"), 3).revision, 3);
  EXPECT_EQ(store->revision(), 3);
  EXPECT_EQ(Str(store->Get("/a")), "/a=2 c1 m3 v2");
  EXPECT_EQ(Str(store->Get("/b")), "/b=1 c2 m2 v1");
  // The next new index applies; index 0 (not from Raft) is never skipped.
  EXPECT_EQ(Must(*store, Put("/c", "1"), 4).revision, 4);
  EXPECT_EQ(Must(*store, Put("/c", "2"), 0).revision, 5);
  EXPECT_EQ(store->applied_index(), 4u);
}

TEST(Store, FailedPreconditionFromRaftStillAdvancesTheAppliedIndex) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Must(*store, Put("/a", "1"), 1);
  auto r = store->Apply(Txn{{{"/a", Precondition::Kind::kMustNotExist, 0}}, {PutOp("/a", "2")}}, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);
  EXPECT_EQ(store->applied_index(), 2u);
  EXPECT_EQ(store->revision(), 1);
}

// A real crash: the child process applies with sync and dies without closing
// anything; the parent reopens the directory.
TEST(StoreDeathTest, CrashAfterSyncedApplyLosesNothing) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The child re-runs this test from the top; it must use the parent's directory.
  const char* inherited = getenv("BOSUN_STORE_CRASH_DIR");
  std::optional<TempDir> dir;
  std::string path;
  if (inherited != nullptr) {
    path = inherited;
  } else {
    dir.emplace();
    path = dir->path();
    setenv("BOSUN_STORE_CRASH_DIR", path.c_str(), 1);
  }
  EXPECT_EXIT(
      {
        auto store = Store::Open(path, StoreOptions{});
        if (!store.ok()) std::_Exit(1);
        for (uint64_t i = 1; i <= 3; ++i) {
          auto r = (*store)->Apply(Put("/k" + std::to_string(i), "v"), i);
          if (!r.ok() || !r->succeeded) std::_Exit(2);
        }
        std::_Exit(42);
      },
      ::testing::ExitedWithCode(42), "");
  unsetenv("BOSUN_STORE_CRASH_DIR");

  auto store = OpenOrDie(path);
  EXPECT_EQ(store->revision(), 3);
  EXPECT_EQ(store->applied_index(), 3u);
  EXPECT_EQ(Str(store->Get("/k3")), "/k3=v c3 m3 v1");
  Must(*store, Put("/k2", "v"), 2);  // replay
  EXPECT_EQ(store->revision(), 3);
}

TEST(Store, SecondOpenOfTheSameDirectoryIsRefused) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  auto again = Store::Open(dir.path(), Fast());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), Code::kUnavailable);
  EXPECT_THAT(again.error().message(), HasSubstr(dir.path()));
}

// Everything a reader can observe, for comparing two stores.
std::string Snapshot(Store& s) {
  std::string out = "rev " + std::to_string(s.revision()) + " compacted " + std::to_string(s.compacted_revision()) +
                    " applied " + std::to_string(s.applied_index()) + "\n";
  for (int64_t rev = std::max<int64_t>(1, s.compacted_revision()); rev <= s.revision(); ++rev) {
    auto r = s.Range("", rev);
    if (!r.ok()) return out + "error " + r.error().message();
    out += "@" + std::to_string(rev) + ":";
    for (const KeyValue& kv : r->kvs) out += " " + Str(kv);
    out += "\n";
  }
  return out;
}

TEST(Store, CheckpointRestoredIntoAnotherStoreReadsTheSame) {
  TempDir dir;
  auto source = OpenOrDie(dir.Sub("source"));
  for (int i = 0; i < 30; ++i) Must(*source, Put("/k" + std::to_string(i % 7), std::to_string(i)), i + 1);
  Must(*source, testing::Del("/k3"), 31);
  ASSERT_TRUE(source->Compact(10).ok());
  ASSERT_TRUE(source->Checkpoint(dir.Sub("cp")).ok());
  const std::string at_checkpoint = Snapshot(*source);
  EXPECT_THAT(at_checkpoint, HasSubstr("rev 31 compacted 10 applied 31"));
  Must(*source, Put("/after", "not in the checkpoint"), 32);

  // The target has its own data and a watch; both give way to the checkpoint.
  auto target = OpenOrDie(dir.Sub("target"));
  for (int i = 0; i < 50; ++i) Must(*target, Put("/mine", std::to_string(i)), i + 1);
  Collector watch;
  auto handle = target->Watch("/", 0, watch.Callback());
  ASSERT_TRUE(handle.ok());

  ASSERT_TRUE(target->Restore(dir.Sub("cp")).ok());
  ASSERT_TRUE(watch.WaitForError());
  EXPECT_EQ(watch.error()->code(), Code::kUnavailable);
  EXPECT_THAT(watch.error()->message(), HasSubstr("re-watch from revision 51"));

  EXPECT_EQ(target->Get("/mine").error().code(), Code::kNotFound);
  EXPECT_EQ(target->Get("/after").error().code(), Code::kNotFound);
  EXPECT_EQ(Snapshot(*target), at_checkpoint);
  auto fresh = OpenOrDie(dir.Sub("fresh"));
  ASSERT_TRUE(fresh->Restore(dir.Sub("cp")).ok());
  EXPECT_EQ(Snapshot(*fresh), at_checkpoint);
  EXPECT_EQ(Str(fresh->Get("/k2")), "/k2=23 c3 m24 v4");

  // The restored store keeps working and keeps its data across a restart.
  Must(*target, Put("/new", "1"), 32);
  target.reset();
  target = OpenOrDie(dir.Sub("target"));
  EXPECT_EQ(target->revision(), 32);
  EXPECT_EQ(Str(target->Get("/k2")), "/k2=23 c3 m24 v4");
  // A checkpoint directory is never overwritten.
  EXPECT_EQ(source->Checkpoint(dir.Sub("cp")).error().code(), Code::kAlreadyExists);
}

TEST(Store, RestoreFromSomethingThatIsNotACheckpointChangesNothing) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  Must(*store, Put("/a", "1"));
  Collector watch;
  auto handle = store->Watch("/", 0, watch.Callback());
  ASSERT_TRUE(handle.ok());

  auto missing = store->Restore(dir.Sub("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  std::filesystem::create_directories(dir.Sub("junk"));
  {
    FILE* f = fopen(dir.Sub("junk/CURRENT").c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("garbage\n", f);
    fclose(f);
  }
  auto junk = store->Restore(dir.Sub("junk"));
  ASSERT_FALSE(junk.ok());
  EXPECT_THAT(junk.error().message(), HasSubstr(dir.Sub("junk")));

  EXPECT_EQ(store->Get("/a")->value, "1");
  Must(*store, Put("/a", "2"));
  ASSERT_TRUE(watch.WaitForRevision(2));
  EXPECT_FALSE(watch.error().has_value()) << "a refused restore must not end watches";
}

// A crash between deciding a restore and swapping the directories: the next
// Open finishes the swap.
TEST(Store, OpenFinishesARestoreThatACrashInterrupted) {
  TempDir dir;
  {
    auto target = OpenOrDie(dir.Sub("target"));
    Must(*target, Put("/old", "replaced"));
    auto source = OpenOrDie(dir.Sub("source"));
    Must(*source, Put("/from", "checkpoint"));
    ASSERT_TRUE(source->Checkpoint(dir.Sub("target/db.restore")).ok());
  }
  {
    auto target = OpenOrDie(dir.Sub("target"));
    EXPECT_EQ(target->Get("/from")->value, "checkpoint");
    EXPECT_EQ(target->Get("/old").error().code(), Code::kNotFound);
  }
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("target/db.restore")));
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("target/db.old")));
}

}  // namespace
}  // namespace bosun::state
