// Watching the revisioned store: history then live, in order, exactly once;
// compaction, slow watchers, cancellation and closing.
#include <atomic>
#include <future>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "state/store.h"
#include "tests/state/store_test_util.h"

namespace bosun::state {
namespace {

using testing::Collector;
using testing::DelOp;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Must;
using testing::OpenOrDie;
using testing::Put;
using testing::PutOp;
using testing::Str;
using testing::TempDir;

std::vector<std::string> Render(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) out.push_back(Str(e));
  return out;
}

TEST(StoreWatch, DeliversChangesUnderItsPrefixWithPreviousValues) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Must(*store, Put("/a/x", "0"));  // 1, before the watch
  Collector c;
  auto h = store->Watch("/a/", 0, c.Callback());
  ASSERT_TRUE(h.ok()) << h.error().message();
  Must(*store, Txn{{}, {PutOp("/a/x", "1"), PutOp("/ab", "not mine"), PutOp("/a/y", "1")}});  // 2
  Must(*store, testing::Del("/a/x"));                                                         // 3
  Must(*store, Put("/b", "not mine"));                                                        // 4
  Must(*store, Put("/a/x", "again"));                                                         // 5
  ASSERT_TRUE(c.WaitForRevision(5));
  EXPECT_THAT(Render(c.events()), ElementsAre("PUT /a/x=1 c1 m2 v2 prev /a/x=0 c1 m1 v1",  //
                                              "PUT /a/y=1 c2 m2 v1 prev (none)",           //
                                              "DEL /a/x= c0 m3 v0 prev /a/x=1 c1 m2 v2",   //
                                              "PUT /a/x=again c5 m5 v1 prev (none)"));
  EXPECT_FALSE(c.error().has_value());
}

TEST(StoreWatch, HistoryGivesTheSameEventsAsLive) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Collector live;
  auto h1 = store->Watch("", 0, live.Callback());
  ASSERT_TRUE(h1.ok());
  Must(*store, Txn{{}, {PutOp("/a", "1"), PutOp("/b", "1")}});
  Must(*store, Txn{{}, {PutOp("/a", "2"), DelOp("/b"), DelOp("/absent")}});
  Must(*store, Put("/b", "reborn"));
  Must(*store, Txn{{}, {DelOp("/a"), DelOp("/b")}});
  Must(*store, Put(std::string("/bin\0ary", 8), std::string("\0\xff", 2)));
  ASSERT_TRUE(live.WaitForRevision(5));

  Collector history;
  auto h2 = store->Watch("", 1, history.Callback());
  ASSERT_TRUE(h2.ok());
  ASSERT_TRUE(history.WaitForRevision(5));
  EXPECT_EQ(live.events().size(), 8u);
  EXPECT_EQ(Render(history.events()), Render(live.events()));
  // Binary keys and values come through unchanged.
  EXPECT_EQ(history.events().back().kv.key, std::string("/bin\0ary", 8));
  EXPECT_EQ(history.events().back().kv.value, std::string("\0\xff", 2));
}

// The promise that matters: while a writer hammers Apply, watches started at
// different moments from revision 1 see every change exactly once, in order,
// across the switch from history to live.
TEST(StoreWatch, ExactlyOnceAndInOrderAcrossTheHistoryToLiveBoundary) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  constexpr int kTxns = 3000;
  std::vector<std::string> expected;  // "revision TYPE key=value", written by the writer only
  std::vector<int64_t> expected_revs;
  std::atomic<bool> failed{false};
  // The writer holds its last 500 transactions until every watch is in, so
  // that the "from now" watch is sure to have something to see.
  std::promise<void> all_watching;
  std::thread writer([&, go = all_watching.get_future()] {
    for (int i = 0; i < kTxns; ++i) {
      if (i == kTxns - 500) go.wait();
      const std::string k = "/w/" + std::to_string(i % 37), v = std::to_string(i);
      Txn txn = i % 10 == 9  ? testing::Del(k)
                : i % 5 == 0 ? Txn{{}, {PutOp(k, v), PutOp("/w/pair/" + std::to_string(i % 3), v)}}
                             : Put(k, v);
      auto r = store->Apply(txn, 0);
      if (!r.ok() || !r->succeeded) {
        failed = true;
        return;
      }
      for (size_t j = 0; j < txn.ops.size(); ++j) {
        const Op& op = txn.ops[j];
        if (op.kind == Op::Kind::kDelete && !r->prev[j]) continue;  // deleting nothing is no event
        expected.push_back(std::to_string(r->revision) + (op.kind == Op::Kind::kPut ? " PUT " : " DEL ") + op.key +
                           "=" + op.value + " prev " + Str(r->prev[j]));
        expected_revs.push_back(r->revision);
      }
    }
  });
  auto render = [](const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const Event& e : events) {
      out.push_back(std::to_string(e.kv.mod_revision) + (e.type == Event::Type::kPut ? " PUT " : " DEL ") + e.kv.key +
                    "=" + e.kv.value + " prev " + Str(e.prev));
    }
    return out;
  };

  std::vector<std::unique_ptr<Collector>> from_one;
  std::vector<std::unique_ptr<WatchHandle>> handles;
  for (int64_t start_at : {100, 1000, 2000}) {
    while (store->revision() < start_at && !failed) std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (failed) break;
    from_one.push_back(std::make_unique<Collector>());
    auto h = store->Watch("/w/", 1, from_one.back()->Callback());
    EXPECT_TRUE(h.ok()) << h.error().message();  // no ASSERT: the writer must be released first
    if (h.ok()) handles.push_back(std::move(*h));
  }
  Collector from_now, narrow;
  auto h_now = store->Watch("/w/", 0, from_now.Callback());
  auto h_narrow = store->Watch("/w/1", 700, narrow.Callback());
  all_watching.set_value();
  writer.join();
  ASSERT_TRUE(h_now.ok());
  ASSERT_TRUE(h_narrow.ok());
  ASSERT_FALSE(failed);
  const int64_t last = store->revision();

  for (auto& c : from_one) {
    ASSERT_TRUE(c->WaitForRevision(last));
    EXPECT_FALSE(c->error().has_value());
    EXPECT_EQ(render(c->events()), expected);
  }
  // From now: exactly the tail of the history that follows the registration.
  ASSERT_TRUE(from_now.WaitForRevision(last));
  std::vector<Event> now_events = from_now.events();
  ASSERT_FALSE(now_events.empty());
  size_t first = 0;
  while (first < expected_revs.size() && expected_revs[first] < now_events.front().kv.mod_revision) ++first;
  EXPECT_EQ(render(now_events), std::vector<std::string>(expected.begin() + first, expected.end()));
  // A narrower prefix from a middle revision.
  std::vector<std::string> narrow_expected;
  int64_t narrow_last = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected_revs[i] >= 700 && expected[i].find(" /w/1") != std::string::npos) {
      narrow_expected.push_back(expected[i]);
      narrow_last = expected_revs[i];
    }
  }
  ASSERT_TRUE(narrow.WaitForRevision(narrow_last));
  EXPECT_EQ(render(narrow.events()), narrow_expected);
}

TEST(StoreWatch, FromACompactedRevisionFailsAtOnceFromTheCompactionPointWorks) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Must(*store, Put("/a", "1"));      // 1
  Must(*store, Put("/b", "1"));      // 2
  Must(*store, Put("/a", "2"));      // 3
  Must(*store, testing::Del("/b"));  // 4
  Must(*store, Put("/a", "3"));      // 5
  Must(*store, Put("/a", "4"));      // 6
  ASSERT_TRUE(store->Compact(5).ok());

  Collector never;
  auto old = store->Watch("/", 4, never.Callback());
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().code(), Code::kCompacted);
  EXPECT_THAT(old.error().message(), HasSubstr("oldest revision still available is 5"));

  Collector c;
  auto h = store->Watch("/", 5, c.Callback());
  ASSERT_TRUE(h.ok()) << h.error().message();
  ASSERT_TRUE(c.WaitForRevision(6));
  // The change at the compaction point still knows what it replaced.
  EXPECT_THAT(Render(c.events()), ElementsAre("PUT /a=3 c1 m5 v3 prev /a=2 c1 m3 v2",  //
                                              "PUT /a=4 c1 m6 v4 prev /a=3 c1 m5 v3"));
}

TEST(StoreWatch, CompactionEndsAWatchThatStillNeedsTheCompactedHistory) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  for (int i = 0; i < 2500; ++i) Must(*store, Put("/c/k", std::to_string(i)));

  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  std::vector<Event> got;
  std::optional<Error> err;
  auto h = store->Watch("/c/", 1, [&](Result<std::vector<Event>> batch) {
    std::unique_lock l(mu);
    if (!batch.ok()) {
      err = batch.error();
    } else {
      for (Event& e : *batch) got.push_back(std::move(e));
      entered = true;
    }
    cv.notify_all();
    cv.wait(l, [&] { return release; });
  });
  ASSERT_TRUE(h.ok());
  {
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return entered; }));
  }
  // The watch is part-way through its history; compacting past that point ends it.
  ASSERT_TRUE(store->Compact(2000).ok());
  std::unique_lock l(mu);
  const size_t delivered = got.size();
  ASSERT_LT(delivered, 2000u) << "the first history batch should be smaller than the whole history";
  release = true;
  cv.notify_all();
  ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return err.has_value(); }));
  EXPECT_EQ(err->code(), Code::kCompacted);
  EXPECT_THAT(err->message(), HasSubstr("needs revision " + std::to_string(delivered + 1)));
  EXPECT_EQ(got.size(), delivered);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i].kv.mod_revision, static_cast<int64_t>(i + 1));
}

TEST(StoreWatch, ASlowWatcherIsEndedInsteadOfBlockingApply) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  std::vector<Event> got;
  std::optional<Error> err;
  auto h = store->Watch("/s/", 0, [&](Result<std::vector<Event>> batch) {
    std::unique_lock l(mu);
    if (!batch.ok()) {
      err = batch.error();
      cv.notify_all();
      return;
    }
    for (Event& e : *batch) got.push_back(std::move(e));
    entered = true;
    cv.notify_all();
    cv.wait(l, [&] { return release; });  // a callback that never keeps up
  });
  ASSERT_TRUE(h.ok());
  Must(*store, Put("/s/first", "1"));  // 1
  {
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return entered; }));
  }
  constexpr int kWrites = 10100;  // more than a watcher may have waiting
  auto writes = std::async(std::launch::async, [&] {
    for (int i = 0; i < kWrites; ++i) Must(*store, Put("/s/k", std::to_string(i)));
  });
  const bool apply_kept_going = writes.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  {
    std::lock_guard l(mu);
    release = true;
    cv.notify_all();
  }
  writes.wait();
  ASSERT_TRUE(apply_kept_going) << "Apply waited for a blocked watch callback";
  {
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return err.has_value(); }));
    EXPECT_EQ(err->code(), Code::kUnavailable);
    EXPECT_THAT(err->message(), HasSubstr("fell too far behind"));
    EXPECT_THAT(err->message(), HasSubstr("re-watch from revision 2"));
    EXPECT_EQ(got.size(), 1u);
  }
  // Doing what the message says loses nothing.
  Collector again;
  auto h2 = store->Watch("/s/", 2, again.Callback());
  ASSERT_TRUE(h2.ok());
  ASSERT_TRUE(again.WaitForRevision(kWrites + 1));
  EXPECT_EQ(again.events().size(), static_cast<size_t>(kWrites));
}

TEST(StoreWatch, DestroyingTheHandleWaitsForARunningCallbackAndStopsDelivery) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  std::atomic<int> calls{0};
  std::atomic<bool> inside{false}, finished{false};
  auto h = store->Watch("/", 0, [&](Result<std::vector<Event>>) {
    ++calls;
    inside = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    finished = true;
  });
  ASSERT_TRUE(h.ok());
  Must(*store, Put("/a", "1"));
  while (!inside) std::this_thread::yield();
  h->reset();
  EXPECT_TRUE(finished) << "the handle's destructor returned while its callback was still running";
  const int before = calls;
  for (int i = 0; i < 5; ++i) Must(*store, Put("/a", std::to_string(i)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(calls, before);
}

TEST(StoreWatch, ACallbackMayDestroyItsOwnHandle) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  std::atomic<int> calls{0};
  std::promise<void> destroyed;
  // After what the callback touches: on an early return the watch ends first.
  std::unique_ptr<WatchHandle> handle;
  auto h = store->Watch("/", 0, [&](Result<std::vector<Event>>) {
    if (++calls == 1) {
      handle.reset();
      destroyed.set_value();
    }
  });
  ASSERT_TRUE(h.ok());
  handle = std::move(*h);
  Must(*store, Put("/a", "1"));
  ASSERT_EQ(destroyed.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Must(*store, Put("/a", "2"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(calls, 1);
}

TEST(StoreWatch, ClosingTheStoreEndsWatchesAndHandlesMayOutliveIt) {
  TempDir dir;
  Collector c;
  std::unique_ptr<WatchHandle> h;
  {
    auto store = OpenOrDie(dir.path());
    Must(*store, Put("/a", "1"));
    auto w = store->Watch("/", 0, c.Callback());
    ASSERT_TRUE(w.ok());
    h = std::move(*w);
  }
  // The store's destructor delivered the end before returning.
  ASSERT_TRUE(c.error().has_value());
  EXPECT_EQ(c.error()->code(), Code::kUnavailable);
  EXPECT_THAT(c.error()->message(), HasSubstr("re-watch from revision 2"));
  h.reset();
}

TEST(StoreWatch, FromAFutureRevisionWaitsForIt) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Must(*store, Put("/a", "1"));  // 1
  Collector c;
  auto h = store->Watch("/", 4, c.Callback());
  ASSERT_TRUE(h.ok());
  for (int i = 2; i <= 5; ++i) Must(*store, Put("/a", std::to_string(i)));
  ASSERT_TRUE(c.WaitForRevision(5));
  std::vector<int64_t> revs;
  for (const Event& e : c.events()) revs.push_back(e.kv.mod_revision);
  EXPECT_THAT(revs, ElementsAre(4, 5));
}

TEST(StoreWatch, RefusesANegativeRevisionOrNoCallback) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Collector c;
  EXPECT_EQ(store->Watch("/", -1, c.Callback()).error().code(), Code::kInvalid);
  EXPECT_EQ(store->Watch("/", 0, nullptr).error().code(), Code::kInvalid);
}

}  // namespace
}  // namespace bosun::state
